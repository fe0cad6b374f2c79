/**
 * The checkout scenario's verifier on deliberately broken facts: a coupon used by two orders, a
 * row its last order did not leave so, counts that do not add up, a 5xx, a listing that
 * disagrees, each reported as its own kind; correct facts pass (pure function, no services).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CheckoutFacts, checkCheckout } from '../../loadtest/verify-checkout.ts';

/** Three orders: o1 confirmed c1, o2 cancelled c2, o3 left c3 locked, o4 confirmed then refunded c4. */
function correct(): CheckoutFacts {
  return {
    tallies: { orders: 4, locksWon: 4, confirms: 2, cancels: 1, refunds: 1, stillLocked: 1, retries: 2 },
    outcomes: [
      { couponId: 'c1', userId: 'u1', orderId: 'o1', expect: 'used' }, { couponId: 'c2', userId: 'u1', orderId: 'o2', expect: 'unused' },
      { couponId: 'c3', userId: 'u2', orderId: 'o3', expect: 'locked' }, { couponId: 'c4', userId: 'u2', orderId: 'o4', expect: 'unused' },
    ],
    statuses: { quote: { 200: 4 }, lock: { 200: 5 }, confirm: { 200: 2 }, cancel: { 200: 1 }, refund: { 200: 2 } },
    unexpected: { count: 0, first: [] },
    rows: [
      { couponId: 'c1', status: 'used', orderId: 'o1' }, { couponId: 'c2', status: 'unused', orderId: null },
      { couponId: 'c3', status: 'locked', orderId: 'o3' }, { couponId: 'c4', status: 'unused', orderId: null },
    ],
    orderStates: { confirmed: 1, refunded: 1, cancelled: 1, locked: 1 },
    doubleConfirmed: [],
    listing: { users: 2, mismatched: [] },
  };
}

const kinds = (f: CheckoutFacts) => [...new Set(checkCheckout(f).map((p) => p.kind))].sort();

test('correct facts pass', () => {
  assert.deepEqual(checkCheckout(correct()), []);
});

test('each broken invariant is its own kind', () => {
  const f = correct();
  assert.deepEqual(kinds({ ...f, doubleConfirmed: [{ couponId: 'c1', confirmed: 2 }] }), ['double_use']);
  assert.deepEqual(kinds({ ...f, rows: f.rows.map((r) => (r.couponId === 'c1' ? { ...r, orderId: 'o9' } : r)) }), ['checkout_state']);
  assert.deepEqual(kinds({ ...f, rows: f.rows.filter((r) => r.couponId !== 'c2') }), ['checkout_state']);
  assert.deepEqual(kinds({ ...f, rows: f.rows.map((r) => (r.couponId === 'c4' ? { ...r, status: 'used', orderId: 'o4' } : r)) }), ['checkout_state']);
  assert.deepEqual(kinds({ ...f, statuses: { ...f.statuses, lock: { 200: 4, 503: 1 } } }), ['checkout_5xx']);
  assert.deepEqual(kinds({ ...f, unexpected: { count: 1, first: ['lock c9: 409'] } }), ['checkout_answer']);
  assert.deepEqual(kinds({ ...f, listing: { users: 2, mismatched: ['u1 used: listed 0, orders left 1'] } }), ['checkout_listing']);
});

test('counts: locks won must be confirms + cancels + still locked, and the control rows must agree', () => {
  const f = correct();
  assert.deepEqual(kinds({ ...f, tallies: { ...f.tallies, locksWon: 5 } }), ['checkout_counts']);
  assert.deepEqual(kinds({ ...f, orderStates: { ...f.orderStates, confirmed: 2 } }), ['checkout_counts']);
  assert.deepEqual(kinds({ ...f, orderStates: { ...f.orderStates, locked: 0, released: 1 } }), ['checkout_counts']);
});

test('a run that locked nothing checked nothing', () => {
  const none = { ...correct(), tallies: { orders: 3, locksWon: 0, confirms: 0, cancels: 0, refunds: 0, stillLocked: 0, retries: 0 },
    outcomes: [], rows: [], orderStates: {} };
  assert.deepEqual(kinds(none), ['scenario']);
});
