/** The redemption failure budget: per user and per address, earned back, bounded in memory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { FailureBudget } from '../../gateway/redeem-failures.ts';

const outcome = (f: () => void) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof ApiError);
    return e.code;
  }
};

test('a user or an address that spent its failures waits until it earns one back', () => {
  const b = new FailureBudget({ failureBurst: 2, failuresPerMinute: 6, maxKeys: 100 });
  assert.equal(b.retryAfterS, 10);
  b.failed('u1', 'a1', 0);
  assert.equal(outcome(() => b.check('u1', 'a1', 0)), 'ok');
  b.failed('u1', 'a1', 0);
  assert.equal(outcome(() => b.check('u1', 'a2', 0)), 'too_many_failures', 'the user, from any address');
  assert.equal(outcome(() => b.check('u2', 'a1', 0)), 'too_many_failures', 'the address, for any user');
  assert.equal(outcome(() => b.check('u2', 'a2', 0)), 'ok');
  // 6 per minute: one earned back every 10 s.
  assert.equal(outcome(() => b.check('u1', 'a1', 9_999)), 'too_many_failures');
  assert.equal(outcome(() => b.check('u1', 'a1', 10_000)), 'ok');
});

test('a flood of distinct users and addresses keeps memory bounded; the caller failing now is kept', () => {
  const b = new FailureBudget({ failureBurst: 1, failuresPerMinute: 1, maxKeys: 100 });
  b.failed('attacker', 'x', 0);
  for (let i = 0; i < 10_000; i++) {
    b.failed(`u${i}`, `a${i}`, 0);
    if (i % 40 === 0) b.failed('attacker', 'x', 0);
    assert.ok(b.size <= 100);
  }
  assert.equal(outcome(() => b.check('attacker', 'y', 0)), 'too_many_failures');
  assert.equal(outcome(() => b.check('u0', 'a0', 0)), 'ok', 'long forgotten');
});

test('failures of redemptions in flight at once are all paid back: concurrency buys no extra tries', () => {
  // Used codes are only known to be failures after their Redis calls: 10 sent at once all pass
  // the check before the first one fails. Each must still cost one failure.
  const b = new FailureBudget({ failureBurst: 3, failuresPerMinute: 60, maxKeys: 100 });
  for (let i = 0; i < 10; i++) assert.equal(outcome(() => b.check('scraper', 'x', 0)), 'ok');
  for (let i = 0; i < 10; i++) b.failed('scraper', 'x', 0);
  // One a second earned back: 10 spent of 3 leaves 7 owed, so the next try is 8 s away.
  assert.equal(outcome(() => b.check('scraper', 'y', 1_000)), 'too_many_failures', 'the user still owes 7 failures');
  assert.equal(outcome(() => b.check('other', 'x', 7_999)), 'too_many_failures', 'the address too');
  assert.equal(outcome(() => b.check('scraper', 'x', 8_010)), 'ok', 'paid back (a little past 8 s: the refill sums floats)');
});

test('an IPv6 host counts as its /64 (it holds them all); IPv4 addresses, as uWS writes them, stay apart', () => {
  const b = new FailureBudget({ failureBurst: 2, failuresPerMinute: 1, maxKeys: 100 });
  // uWS writes every address as 8 full groups; a host cycling users and its /64's addresses:
  const v6 = (host: number) => `2001:0db8:0a0b:0c0d:${host.toString(16).padStart(4, '0')}:0000:0000:0001`;
  b.failed('cycler0', v6(1), 0);
  b.failed('cycler1', v6(2), 0);
  assert.equal(outcome(() => b.check('cycler2', v6(3), 0)), 'too_many_failures', 'the same /64');
  assert.equal(outcome(() => b.check('cycler2', '2001:0db8:0a0b:0c0e:0000:0000:0000:0001', 0)), 'ok', 'another /64');
  const v4 = (last: number) => `0000:0000:0000:0000:0000:ffff:7f00:${last.toString(16).padStart(4, '0')}`;
  b.failed('a', v4(1), 0);
  b.failed('b', v4(1), 0);
  assert.equal(outcome(() => b.check('c', v4(1), 0)), 'too_many_failures');
  assert.equal(outcome(() => b.check('c', v4(2), 0)), 'ok', 'another IPv4 address');
});
