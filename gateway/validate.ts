/** Shared input checks of the public API. */

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** True for a valid user, template or request id: 1-64 chars of [A-Za-z0-9_.:-]. */
export function isId(v: unknown): v is string {
  return typeof v === 'string' && ID.test(v);
}
