/**
 * User tokens signed by an upstream login service (optional): with them, a claim's userId comes
 * from the token, so nobody can claim as someone else. Format `v1.<payload>.<signature>`, both
 * base64url; payload `{"sub": userId, "exp": epoch seconds}`; signature HMAC-SHA256 over
 * `v1.<payload>` with a shared secret. Several secrets verify (rotation); the first one signs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from './errors.ts';
import { isId } from './ids.ts';

const VERSION = 'v1';

const sign = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest();

/** Signs a token for `userId` valid until `expSec` (what the upstream login service does). */
export function signUserToken(secret: string, userId: string, expSec: number): string {
  const payload = Buffer.from(JSON.stringify({ sub: userId, exp: expSec })).toString('base64url');
  const data = `${VERSION}.${payload}`;
  return `${data}.${sign(secret, data).toString('base64url')}`;
}

/** The user id of a valid, unexpired token from `Authorization: Bearer <token>`; 401 otherwise. */
export function verifyUserToken(secrets: readonly string[], authorization: string, nowSec: number): string {
  const m = /^Bearer (v1\.[A-Za-z0-9_-]{1,512})\.([A-Za-z0-9_-]{43})$/.exec(authorization);
  if (!m) throw new ApiError('unauthorized', 'a user token is required: Authorization: Bearer v1.<payload>.<signature>');
  const [, data, sigText] = m as unknown as [string, string, string];
  const sig = Buffer.from(sigText, 'base64url');
  if (!secrets.some((s) => timingSafeEqual(sign(s, data), sig))) throw new ApiError('unauthorized', 'user token signature is not valid');
  let claims: { sub?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(data.slice(VERSION.length + 1), 'base64url').toString()) as typeof claims;
  } catch {
    throw new ApiError('unauthorized', 'user token payload is not JSON');
  }
  if (!isId(claims.sub)) throw new ApiError('unauthorized', 'user token names no valid user id');
  if (typeof claims.exp !== 'number' || claims.exp <= nowSec) throw new ApiError('unauthorized', 'user token has expired');
  return claims.sub;
}
