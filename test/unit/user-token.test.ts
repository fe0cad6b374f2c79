/** User tokens: only a valid signature over an unexpired payload names the user. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { signUserToken, verifyUserToken } from '../../core/user-token.ts';
import { ApiError } from '../../core/errors.ts';

const SECRET = 'a-secret-of-the-login-service-32+chars';
const NOW = 1_800_000_000;
const bearer = (t: string) => `Bearer ${t}`;

function refused(authorization: string, why: RegExp, secrets = [SECRET]): void {
  assert.throws(() => verifyUserToken(secrets, authorization, NOW),
    (e: unknown) => e instanceof ApiError && e.code === 'unauthorized' && why.test(e.message));
}

test('a signed token names its user; a rotated-out secret still verifies while listed', () => {
  const t = signUserToken(SECRET, 'alice', NOW + 60);
  assert.equal(verifyUserToken([SECRET], bearer(t), NOW), 'alice');
  assert.equal(verifyUserToken(['new-secret-new-secret-new-secret!!', SECRET], bearer(t), NOW), 'alice');
  refused(bearer(t), /signature/, ['another-secret-another-secret-xx']);
});

test('tampered, expired, malformed and missing tokens are refused with 401', () => {
  const t = signUserToken(SECRET, 'alice', NOW + 60);
  const [v, , sig] = t.split('.');
  const forged = Buffer.from(JSON.stringify({ sub: 'mallory', exp: NOW + 60 })).toString('base64url');
  refused(bearer(`${v}.${forged}.${sig}`), /signature/);
  refused(bearer(signUserToken(SECRET, 'alice', NOW)), /expired/);
  refused(bearer(signUserToken(SECRET, 'bad id', NOW + 60)), /no valid user id/);
  refused('', /required/);
  refused(t, /required/);
  refused(bearer(`${t}x`), /required/);
  refused(`Basic ${t}`, /required/);
  const notJson = `v1.${Buffer.from('nope').toString('base64url')}`;
  refused(bearer(`${notJson}.${signUserToken(SECRET, 'x', 1).split('.')[2]}`), /signature/);
  refused(bearer(`${notJson}.${createHmac('sha256', SECRET).update(notJson).digest('base64url')}`), /not JSON/);
});
