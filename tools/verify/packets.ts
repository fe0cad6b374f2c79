/**
 * The oracle's red-packet checks (oracle.ts calls them): every packet's amount is a whole number
 * of cents no less than the template's minimum, the amounts never exceed the budget and sum to
 * it exactly once every packet is issued, what Redis has left of the budget accounts for the
 * rest, and every client was told the amount its row holds (a replay the same one).
 */

/** What the checks read of a red-packet template (oracle.ts TemplateState). */
export interface PacketTemplate {
  readonly totalStock: number;
  readonly budget?: number | null;
  readonly minAmount?: number | null;
  readonly budgetLeft?: number | null;
}

/** What they read of a coupon row (oracle.ts StoredCoupon) and of an answer (oracle.ts Told). */
export interface PacketCoupon {
  readonly couponId: string;
  readonly amount?: number | null;
}

export type PacketFlag = (detail: string) => void;

/** Judges one red-packet template's rows and answers; `flag` records a violation of it. */
export function judgePackets(t: PacketTemplate, rows: readonly PacketCoupon[], told: readonly (PacketCoupon & { readonly replayed: boolean })[],
  flag: PacketFlag): void {
  const budget = t.budget!;
  const min = t.minAmount ?? 1;
  let sum = 0;
  const amountOf = new Map<string, number>();
  for (const r of rows) {
    const a = r.amount;
    if (a === null || a === undefined || !Number.isSafeInteger(a)) {
      flag(`coupon ${r.couponId} has no amount`);
      continue;
    }
    if (a < min) flag(`coupon ${r.couponId} holds ${a} cents, below the minimum ${min}`);
    if (!amountOf.has(r.couponId)) sum += a;
    amountOf.set(r.couponId, a);
  }
  if (sum > budget) flag(`the packets hold ${sum} cents, over the budget ${budget}`);
  if (amountOf.size === t.totalStock && sum !== budget) {
    flag(`every packet is issued but they hold ${sum} cents, not the budget ${budget}`);
  }
  if (t.budgetLeft !== undefined && t.budgetLeft !== null && sum + t.budgetLeft !== budget) {
    flag(`${sum} cents stored + ${t.budgetLeft} left in Redis != budget ${budget}`);
  }
  for (const x of told) {
    const stored = amountOf.get(x.couponId);
    if (x.amount === undefined || x.amount === null) flag(`coupon ${x.couponId} was answered without an amount`);
    else if (x.amount < min) flag(`coupon ${x.couponId} was answered ${x.amount} cents, below the minimum ${min}`);
    else if (stored !== undefined && stored !== x.amount) {
      flag(`coupon ${x.couponId} was answered ${x.amount} cents${x.replayed ? ' (a replay)' : ''}, its row holds ${stored}`);
    }
  }
}
