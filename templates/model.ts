/** A coupon template (batch) as the gateway, Redis's live copy and the admin API see it. */

export const TEMPLATE_TYPES = ['direct', 'threshold', 'discount', 'red_packet'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];
export const TEMPLATE_STATUSES = ['active', 'paused'] as const;
export type TemplateStatus = (typeof TEMPLATE_STATUSES)[number];

/**
 * Which products a coupon applies to at checkout. Empty include lists mean "all"; the exclude
 * lists (and the global blacklist) win over the include lists.
 */
export interface Scope {
  readonly categories: readonly string[];
  readonly products: readonly string[];
  readonly excludeCategories: readonly string[];
  readonly excludeProducts: readonly string[];
}

export const SCOPE_LISTS = ['categories', 'products', 'excludeCategories', 'excludeProducts'] as const;

/** Scope of a template that applies to every product. */
export const ALL_PRODUCTS: Scope = { categories: [], products: [], excludeCategories: [], excludeProducts: [] };

export interface Template {
  readonly id: string;
  readonly name: string;
  readonly type: TemplateType;
  /** Cents off (direct, threshold) or percent off (discount); 0 for a red packet (each packet draws its amount). */
  readonly value: number;
  /** Minimum order in cents (threshold: required; discount: optional). */
  readonly threshold: number | null;
  /** Cap in cents of a discount coupon. */
  readonly maxDiscount: number | null;
  /** Red packet: cents shared out over all `totalStock` packets, exactly (null for other types). */
  readonly budget: number | null;
  /** Red packet: the least cents one packet gets (null for other types). */
  readonly minAmount: number | null;
  /** Coupons, or packets of a red packet. */
  readonly totalStock: number;
  readonly perUserLimit: number;
  readonly subStocks: number;
  /** Epoch ms, or null for "open". */
  readonly claimStart: number | null;
  readonly claimEnd: number | null;
  /** Use window: fixed dates (validFrom/validTo, epoch ms) or validDays after the claim. */
  readonly validFrom: number | null;
  readonly validTo: number | null;
  readonly validDays: number | null;
  readonly scope: Scope;
  /** True when it can be combined with other coupons in one order. */
  readonly stackable: boolean;
  /** The only users who may claim it, or null for everyone. */
  readonly audience: readonly string[] | null;
  readonly status: TemplateStatus;
  /** Bumped by every change; an older version never overwrites a newer one anywhere. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/**
 * Default number of sub-stocks: one per 1,000 coupons, at most 16 and at most one per partition.
 * Fewer, fuller sub-stocks keep the one-round-trip home path common until near sell-out; 16
 * spreads a hot template over more Redis cores than the brief's 6 shards for 120k/s.
 */
export function defaultSubStocks(totalStock: number, partitions: number): number {
  return Math.max(1, Math.min(16, partitions, Math.floor(totalStock / 1000)));
}

/** Stock of sub-stock k when `total` is split over `count` sub-stocks. */
export function subStockShare(total: number, count: number, k: number): number {
  return Math.floor(total / count) + (k < total % count ? 1 : 0);
}

/** Whether each coupon of `t` draws a random amount from a budget (live copies older than the type lack the fields). */
export const isRedPacket = (t: Pick<Template, 'type'>): boolean => t.type === 'red_packet';

/**
 * The minimum amount a claim of `t` passes to the claim scripts: set for a red packet (the
 * scripts draw an amount only then), undefined otherwise. Every path that builds a claim uses
 * this, so none can issue a packet without its amount.
 */
export const claimMinAmount = (t: Pick<Template, 'type' | 'minAmount'>): number | undefined =>
  (isRedPacket(t) ? t.minAmount ?? 1 : undefined);

/**
 * Budget of sub-stock k of a red packet: its packets' minimum, plus an even split of what the
 * whole budget holds above every packet's minimum. So each sub-stock can pay every packet it
 * holds at least `minAmount`, and the sub-stocks' budgets sum to the budget exactly.
 */
export function subBudgetShare(t: Pick<Template, 'totalStock' | 'subStocks' | 'budget' | 'minAmount'>, k: number): number {
  const min = t.minAmount ?? 1;
  return min * subStockShare(t.totalStock, t.subStocks, k) + subStockShare(t.budget! - min * t.totalStock, t.subStocks, k);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The template as the admin API shows it (`audience` as a count unless `withAudience`). */
export function templateJson(t: Template, withAudience = true): Record<string, unknown> {
  const { audience, ...rest } = t;
  return {
    ...rest,
    claimStart: iso(t.claimStart), claimEnd: iso(t.claimEnd), validFrom: iso(t.validFrom), validTo: iso(t.validTo),
    createdAt: iso(t.createdAt), updatedAt: iso(t.updatedAt),
    ...(withAudience ? { audience } : { audienceSize: audience === null ? null : audience.length }),
  };
}
