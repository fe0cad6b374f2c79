/**
 * checkout-mysql-kill's checks (drill/checkout-check.ts) on hand-made facts: a consistent
 * history passes, and each kind of broken one is flagged. No services: the check is pure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CheckoutCall, checkCheckout, type StoredCheckout } from '../../drill/checkout-check.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** The facts, writable so that a case can break one. */
interface Facts {
  calls: CheckoutCall[];
  stored: { coupons: Mutable<StoredCheckout['coupons'][number]>[]; orders: Mutable<StoredCheckout['orders'][number]>[];
    transitions: StoredCheckout['transitions'][number][] };
}

const ok = (code: string) => ({ status: 200, code });
const no = (code: string) => ({ status: 409, code });

/** Coupon A: o1 locked, confirmed, refunded; o2 lost the race to o1, then cancelled (the empty rollback); o3 locked and confirmed. Coupon B: o4 locked it and left. */
function good(): Facts {
  const calls: CheckoutCall[] = [
    { couponId: 'A', orderId: 'o1', op: 'lock', answer: ok('locked') },
    { couponId: 'A', orderId: 'o2', op: 'lock', answer: no('coupon_locked') },
    { couponId: 'A', orderId: 'o2', op: 'cancel', answer: ok('unused') },
    { couponId: 'A', orderId: 'o1', op: 'confirm', answer: ok('used') },
    { couponId: 'A', orderId: 'o1', op: 'refund', answer: ok('unused') },
    { couponId: 'A', orderId: 'o3', op: 'lock', answer: ok('locked') },
    { couponId: 'A', orderId: 'o3', op: 'confirm', answer: ok('used') },
    { couponId: 'B', orderId: 'o4', op: 'lock', answer: ok('locked') },
  ];
  const stored: Facts['stored'] = {
    coupons: [{ couponId: 'A', status: 'used', orderId: 'o3' }, { couponId: 'B', status: 'locked', orderId: 'o4' }, { couponId: 'C', status: 'unused', orderId: null }],
    orders: [
      { couponId: 'A', orderId: 'o1', state: 'refunded' }, { couponId: 'A', orderId: 'o2', state: 'cancelled' },
      { couponId: 'A', orderId: 'o3', state: 'confirmed' }, { couponId: 'B', orderId: 'o4', state: 'locked' },
    ],
    transitions: [
      { couponId: 'A', from: 'unused', to: 'locked', orderId: 'o1', cause: 'lock' },
      { couponId: 'A', from: 'locked', to: 'used', orderId: 'o1', cause: 'confirm' },
      { couponId: 'A', from: 'used', to: 'unused', orderId: 'o1', cause: 'refund' },
      { couponId: 'A', from: 'unused', to: 'locked', orderId: 'o3', cause: 'lock' },
      { couponId: 'A', from: 'locked', to: 'used', orderId: 'o3', cause: 'confirm' },
      { couponId: 'B', from: 'unused', to: 'locked', orderId: 'o4', cause: 'lock' },
    ],
  };
  return { calls, stored };
}

test('a consistent history passes', () => {
  const { calls, stored } = good();
  assert.deepEqual(checkCheckout(calls, stored), []);
});

test('each broken fact is flagged', () => {
  const cases: [string, (f: Facts) => void, RegExp][] = [
    ['two confirmed orders', (f) => { f.stored.orders[0]!.state = 'confirmed'; }, /2 orders confirmed/],
    ['a lost confirm', (f) => { f.stored.orders[2]!.state = 'cancelled'; }, /o3 on A: its answers leave it confirmed, MySQL holds cancelled/],
    ['a used coupon naming another order', (f) => { f.stored.coupons[0]!.orderId = 'o1'; }, /used, but not by its one confirmed order/],
    ['a locked row of an unlocked coupon', (f) => { f.stored.coupons[1]!.status = 'unused'; }, /locked, but not by its one locked order/],
    ['a transition applied twice', (f) => { f.stored.transitions.splice(1, 0, f.stored.transitions[1]!); }, /while the coupon was used/],
    ['a refused confirm after a won lock', (f) => { f.calls[6] = { ...f.calls[6]!, answer: no('not_locked') }; }, /confirm answered 409 not_locked in state locked/],
    ['a control row no flow made', (f) => { f.stored.orders.push({ couponId: 'C', orderId: 'o9', state: 'cancelled' }); }, /order o9 on C, which no flow sent/],
  ];
  for (const [what, breakIt, want] of cases) {
    const f = good();
    breakIt(f);
    const found = checkCheckout(f.calls, f.stored);
    assert.ok(found.some((v) => want.test(v)), `${what}: ${JSON.stringify(found)}`);
  }
});

test('an order with an undecided call is judged by the invariants only', () => {
  const { calls, stored } = good();
  calls.push({ couponId: 'B', orderId: 'o4', op: 'cancel' });
  assert.deepEqual(checkCheckout(calls, stored), []);
});
