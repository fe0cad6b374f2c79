/** The admin gate: right token passes, wrong ones are counted per address and then refused unchecked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminGuard } from '../../gateway/auth/admin-guard.ts';
import { ApiError } from '../../core/errors.ts';

const TOKEN = 'the-admin-token-123';
const code = (f: () => void) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof ApiError);
    return e.code;
  }
};

test('wrong tokens spend the address budget; then even the right token waits; the budget refills', () => {
  const g = new AdminGuard(TOKEN, { failureBurst: 3, failuresPerMinute: 6, maxAddresses: 100 });
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'a', 0)), 'ok');
  assert.equal(code(() => g.check('', 'a', 0)), 'unauthorized');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}x`, 'a', 0)), 'unauthorized');
  assert.equal(code(() => g.check(`Basic ${TOKEN}`, 'a', 0)), 'unauthorized');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'a', 1)), 'rate_limited', 'no token check once the budget is spent');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'b', 1)), 'ok', 'other addresses are not affected');
  // 6 per minute: one wrong token earned back every 10 s.
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'a', 10_000)), 'ok');
  assert.equal(code(() => g.check('Bearer nope', 'a', 10_000)), 'unauthorized');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'a', 10_001)), 'rate_limited');
});

test('remembered addresses are bounded: the oldest is forgotten', () => {
  const g = new AdminGuard(TOKEN, { failureBurst: 1, failuresPerMinute: 1, maxAddresses: 2 });
  for (const a of ['x', 'y', 'z']) assert.equal(code(() => g.check('', a, 0)), 'unauthorized');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'z', 0)), 'rate_limited');
  assert.equal(code(() => g.check(`Bearer ${TOKEN}`, 'x', 0)), 'ok', 'x was forgotten when z arrived');
});
