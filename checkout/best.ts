/**
 * The best combination of usable coupons, exactly and in polynomial time (issue: exact for 50
 * coupons within a 5 ms quote). A combination is one coupon alone or any set of stackable ones;
 * it is worth min(sum of discounts, cart total). Best: the most cents off; then the fewest
 * coupons; then the earliest expiring (validTo values sorted ascending, compared in order);
 * then the couponIds sorted ascending, compared in order.
 *
 * Why it is exact. The best worth V is the larger of the best single coupon and min(sum of all
 * stackable discounts, total), since adding a coupon never lowers a sum. If a single coupon
 * reaches V it wins on count. Else only stackable sets reach V, those whose sum is >= V, and the
 * fewest coupons needed is the least k whose k largest discounts reach V. Among those k-sets:
 *  1. Walking coupons by validTo (larger discount first within one validTo) and taking each one
 *     whenever the rest can still complete a set gives the earliest-expiring validTo list: where
 *     an optimal set first differs, it holds a coupon of the same validTo and no larger
 *     discount, and swapping in the walk's pick keeps it optimal and feasible.
 *  2. That fixes how many coupons each validTo contributes; walking all coupons of those
 *     validTo values by couponId, with those counts as quotas, gives the first couponId list.
 * Sums are capped at the cart total, which keeps every comparison exact below 2^53.
 */

/** A usable coupon worth more than nothing, as the search sees it. */
export interface Candidate {
  readonly couponId: string;
  readonly validTo: number;
  readonly discount: number;
  readonly stackable: boolean;
}

export interface Best {
  /** Sorted ascending; empty when no coupon takes anything off. */
  readonly couponIds: string[];
  readonly discount: number;
}

const byId = (a: Candidate, b: Candidate): number => (a.couponId < b.couponId ? -1 : a.couponId > b.couponId ? 1 : 0);
const byExpiry = (a: Candidate, b: Candidate): number => a.validTo - b.validTo || byId(a, b);

/**
 * top[j][r]: the largest sum of exactly r of `ds[j..]` (r up to q), capped at `cap`, or
 * -Infinity when fewer than r remain.
 */
function suffixTops(ds: readonly number[], q: number, cap: number): number[][] {
  const top: number[][] = new Array<number[]>(ds.length + 1);
  const largest: number[] = [];
  for (let j = ds.length; j >= 0; j--) {
    if (j < ds.length) {
      const d = ds[j]!;
      let i = largest.length;
      while (i > 0 && largest[i - 1]! < d) i--;
      largest.splice(i, 0, d);
      if (largest.length > q) largest.pop();
    }
    const row = [0];
    for (let r = 1; r <= q; r++) row.push(r <= largest.length ? Math.min(row[r - 1]! + largest[r - 1]!, cap) : -Infinity);
    top[j] = row;
  }
  return top;
}

interface Group {
  readonly ds: number[];
  /** Items of the group walked past so far. */
  at: number;
  /** Items still to take from the group. */
  left: number;
  top: number[][];
}

/**
 * Walks `order` and takes each candidate whenever the candidates after it can still complete a
 * set with exactly `quota.get(g)` candidates of each group g and discounts summing to `need`:
 * the set that comes first in walk order. One must exist.
 */
function firstInOrder(
  order: readonly Candidate[], groupOf: (c: Candidate) => number, quota: ReadonlyMap<number, number>, need: number, cap: number,
): Candidate[] {
  const groups = new Map<number, Group>();
  for (const [g, q] of quota) groups.set(g, { ds: [], at: 0, left: q, top: [] });
  for (const c of order) groups.get(groupOf(c))?.ds.push(c.discount);
  for (const g of groups.values()) g.top = suffixTops(g.ds, g.left, cap);
  const chosen: Candidate[] = [];
  for (const c of order) {
    const g = groups.get(groupOf(c));
    if (g === undefined) continue;
    g.at++;
    if (g.left === 0) continue;
    g.left--;
    let rest = 0;
    for (const h of groups.values()) rest = Math.min(rest + h.top[h.at]![h.left]!, cap);
    const still = Math.max(0, need - c.discount);
    if (rest >= still) {
      chosen.push(c);
      need = still;
    } else {
      g.left++;
    }
  }
  return chosen;
}

/** The best combination of `cands` on a cart of `total` cents (exact; see the file comment). */
export function bestCombination(cands: readonly Candidate[], total: number): Best {
  const worth = cands.filter((c) => c.discount > 0);
  if (worth.length === 0) return { couponIds: [], discount: 0 };
  const stack = worth.filter((c) => c.stackable);
  const stackSum = stack.reduce((s, c) => Math.min(s + c.discount, total), 0);
  let best = stackSum;
  for (const c of worth) best = Math.max(best, Math.min(c.discount, total));

  let single: Candidate | undefined;
  for (const c of worth) if (Math.min(c.discount, total) === best && (single === undefined || byExpiry(c, single) < 0)) single = c;
  if (single !== undefined) return { couponIds: [single.couponId], discount: best };

  const largest = stack.map((c) => c.discount).sort((a, b) => b - a);
  let k = 0;
  for (let s = 0; s < best; k++) s = Math.min(s + largest[k]!, total);
  const byValidTo = [...stack].sort((a, b) => a.validTo - b.validTo || b.discount - a.discount || byId(a, b));
  const earliest = firstInOrder(byValidTo, () => 0, new Map([[0, k]]), best, total);
  const perValidTo = new Map<number, number>();
  for (const c of earliest) perValidTo.set(c.validTo, (perValidTo.get(c.validTo) ?? 0) + 1);
  const byCouponId = stack.filter((c) => perValidTo.has(c.validTo)).sort(byId);
  const chosen = firstInOrder(byCouponId, (c) => c.validTo, perValidTo, best, total);
  return { couponIds: chosen.map((c) => c.couponId), discount: best };
}
