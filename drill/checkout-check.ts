/**
 * The checks of checkout-mysql-kill, pure over its facts: what MySQL holds for the drill's
 * coupons (rows, coupon_order control rows, coupon_transition) must be consistent on its own
 * (the invariants of test/integration/checkout/checkout-hostile.test.ts) and agree with every
 * definite answer the order flows got (docs/api.md, "Checkout": the state table).
 */

export type CheckoutOp = 'lock' | 'confirm' | 'cancel' | 'refund';

/** One checkout call of a flow; `answer` is its definite answer, undefined when none came within the bound. */
export interface CheckoutCall {
  readonly couponId: string;
  readonly orderId: string;
  readonly op: CheckoutOp;
  /** HTTP status and the body's `status` (200) or `error` (a refusal). */
  readonly answer?: { readonly status: number; readonly code: string };
}

/** What MySQL holds for the drill's coupons after the flows. */
export interface StoredCheckout {
  readonly coupons: readonly { readonly couponId: string; readonly status: string; readonly orderId: string | null }[];
  readonly orders: readonly { readonly couponId: string; readonly orderId: string; readonly state: string }[];
  /** Oldest first per coupon. */
  readonly transitions: readonly {
    readonly couponId: string; readonly from: string; readonly to: string; readonly orderId: string | null; readonly cause: string;
  }[];
}

// The control-row state a 200 leaves an order in.
const STATE_AFTER: Readonly<Record<CheckoutOp, string>> = { lock: 'locked', confirm: 'confirmed', cancel: 'cancelled', refund: 'refunded' };
// The body status of a 200, per call.
const OK_STATUS: Readonly<Record<CheckoutOp, readonly string[]>> = {
  lock: ['locked'], confirm: ['used'], cancel: ['unused'], refund: ['unused', 'expired'],
};

/**
 * The answers an order may get from its own state (the flows only send these calls): a lock from
 * no state may lose the coupon to another order; anything else must succeed (the locks never run
 * out within the drill).
 */
function allowed(state: string | undefined, op: CheckoutOp): readonly string[] | undefined {
  if (op === 'lock' && state === undefined) return ['200', '409 coupon_locked', '409 coupon_used'];
  if (op === 'lock' && state === 'locked') return ['200'];
  if (op === 'confirm' && state === 'locked') return ['200'];
  if (op === 'cancel' && (state === undefined || state === 'locked')) return ['200'];
  if (op === 'refund' && state === 'confirmed') return ['200'];
  return undefined;
}

const groupBy = <T>(xs: readonly T[], key: (x: T) => string) => {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
};

/** Every violation found; empty when all held. `calls` in the order each flow sent them. */
export function checkCheckout(calls: readonly CheckoutCall[], stored: StoredCheckout): string[] {
  const out: string[] = [];
  const ordersOf = groupBy(stored.orders, (o) => o.couponId);
  const transitionsOf = groupBy(stored.transitions, (t) => t.couponId);

  for (const c of stored.coupons) {
    const orders = ordersOf.get(c.couponId) ?? [];
    const ctx = `${c.couponId} (${c.status} by ${c.orderId ?? 'no order'}; orders ${orders.map((o) => `${o.orderId}:${o.state}`).join(' ') || 'none'})`;
    const confirmed = orders.filter((o) => o.state === 'confirmed').map((o) => o.orderId);
    const locked = orders.filter((o) => o.state === 'locked').map((o) => o.orderId);
    if (confirmed.length > 1) out.push(`${ctx}: ${confirmed.length} orders confirmed`);
    if (c.status === 'used' ? confirmed.join() !== c.orderId : confirmed.length > 0) out.push(`${ctx}: used, but not by its one confirmed order`);
    if (c.status === 'locked' ? locked.join() !== c.orderId : locked.length > 0) out.push(`${ctx}: locked, but not by its one locked order`);
    if (c.status !== 'used' && c.status !== 'locked' && c.orderId !== null) out.push(`${ctx}: ${c.status}, yet names an order`);
    let at = 'unused';
    let holder: string | null = null;
    for (const t of transitionsOf.get(c.couponId) ?? []) {
      if (t.from !== at) out.push(`${ctx}: transition ${t.cause} ${t.from}->${t.to} while the coupon was ${at}`);
      else if ((t.from === 'locked' || t.from === 'used') && t.orderId !== holder) {
        out.push(`${ctx}: transition ${t.cause} ${t.from}->${t.to} names ${t.orderId}, the holder was ${holder}`);
      }
      at = t.to;
      holder = t.to === 'locked' || t.to === 'used' ? t.orderId : null;
    }
    if (at !== c.status || holder !== c.orderId) out.push(`${ctx}: transitions end at ${at} by ${holder ?? 'no order'}`);
  }

  // Each order belongs to one flow: its calls alone decide its control row and its transitions.
  const stateOf = new Map(stored.orders.map((o) => [`${o.couponId}|${o.orderId}`, o.state]));
  const causesOf = groupBy(stored.transitions.filter((t) => t.orderId !== null), (t) => `${t.couponId}|${t.orderId}`);
  const called = groupBy(calls, (c) => `${c.couponId}|${c.orderId}`);
  for (const [key, own] of called) {
    const name = `order ${own[0]!.orderId} on ${own[0]!.couponId}`;
    if (own.some((c) => c.answer === undefined)) continue; // its state is unknown: only the invariants above judge it
    let state: string | undefined;
    const causes: string[] = [];
    for (const c of own) {
      const a = c.answer!;
      const told = a.status === 200 ? '200' : `${a.status} ${a.code}`;
      if (!(allowed(state, c.op) ?? []).includes(told)) out.push(`${name}: ${c.op} answered ${told} in state ${state ?? 'none'}`);
      if (a.status !== 200) continue;
      if (!OK_STATUS[c.op].includes(a.code)) out.push(`${name}: ${c.op} answered 200 ${a.code}`);
      // A status change records a transition; a cancel before any lock (the empty rollback) and a repeated call do not.
      if (STATE_AFTER[c.op] !== state && !(c.op === 'cancel' && state === undefined)) causes.push(c.op);
      state = STATE_AFTER[c.op];
    }
    const storedState = stateOf.get(key);
    if (storedState !== state) out.push(`${name}: its answers leave it ${state ?? 'without a control row'}, MySQL holds ${storedState ?? 'none'}`);
    const storedCauses = (causesOf.get(key) ?? []).map((t) => t.cause);
    if (storedCauses.join() !== causes.join()) out.push(`${name}: transitions ${storedCauses.join(',') || 'none'}, its answers made ${causes.join(',') || 'none'}`);
  }
  const unsent = (key: string) => `order ${key.split('|')[1]} on ${key.split('|')[0]}, which no flow sent`;
  for (const key of causesOf.keys()) if (!called.has(key)) out.push(`a transition names ${unsent(key)}`);
  for (const key of stateOf.keys()) if (!called.has(key)) out.push(`a control row of ${unsent(key)}`);
  return out;
}
