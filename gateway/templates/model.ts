/** A coupon template (batch) as the gateway, Redis's live copy and the admin API see it. */

export const TEMPLATE_TYPES = ['direct', 'threshold', 'discount'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];
export type TemplateStatus = 'active' | 'paused';

export interface Template {
  readonly id: string;
  readonly name: string;
  readonly type: TemplateType;
  /** Cents off (direct, threshold) or percent off (discount). */
  readonly value: number;
  /** Minimum order in cents (threshold: required; discount: optional). */
  readonly threshold: number | null;
  /** Cap in cents of a discount coupon. */
  readonly maxDiscount: number | null;
  readonly totalStock: number;
  readonly perUserLimit: number;
  readonly subStocks: number;
  /** Epoch ms, or null for "open". */
  readonly claimStart: number | null;
  readonly claimEnd: number | null;
  readonly validDays: number;
  readonly status: TemplateStatus;
  readonly version: number;
  readonly createdAt: number;
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

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The template as the admin API shows it. */
export function templateJson(t: Template): Record<string, unknown> {
  return { ...t, claimStart: iso(t.claimStart), claimEnd: iso(t.claimEnd), createdAt: iso(t.createdAt) };
}
