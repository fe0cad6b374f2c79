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

/**
 * The request id of a redemption: the code's number (redemption/code-mac.ts), so every
 * redemption of one code is one request, and the reconciler and the rebuild know its code.
 */
export const codeRequestId = (n: number): string => `code:${n}`;

/** The code number of a redemption's request id, or undefined for any other request id. */
export function codeOfRequest(requestId: string): number | undefined {
  const m = /^code:(\d{1,13})$/.exec(requestId);
  return m ? Number(m[1]) : undefined;
}
