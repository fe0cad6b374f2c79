/**
 * Shared input checks of the public API.
 *
 * The identity rule (brief, section 4, invariant 8): an id is a case-sensitive byte string.
 * `Foo` and `foo` are two users, two templates, two requests, in every Redis key and hash field
 * and in every MySQL id column (binary collations, core/collation.ts); nothing folds case.
 */

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** True for a valid user, template or request id: 1-64 chars of [A-Za-z0-9_.:-], case-sensitive. */
export function isId(v: unknown): v is string {
  return typeof v === 'string' && ID.test(v);
}
