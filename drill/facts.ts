/**
 * What a drill collects: every answer the clients received (load.ts) and what Redis and MySQL
 * hold once traffic drained (collect.ts). verify.ts judges these facts and nothing else, so a
 * test can hand it deliberately broken ones.
 */
import type { LossWindow, StoredCoupon } from '../tools/verify/oracle.ts';

/** What one HTTP attempt of a claim came back with. */
export type Outcome =
  /** 200: a coupon, new or replayed; the body's user and template are kept to be checked. */
  | { readonly kind: 'issued'; readonly couponId: string; readonly replayed: boolean;
    readonly userId: string; readonly templateId: string; readonly amount?: number }
  /** A decided "no" (limit_reached, sold_out, ...): the claim gave nothing. */
  | { readonly kind: 'refused'; readonly status: number; readonly reason: string }
  /** An error answer (429, 503, ...): the outcome is unknown to the client. */
  | { readonly kind: 'error'; readonly status: number; readonly code: string }
  /** No answer at all: timed out, connection refused or reset, or cut off at the end of the load. */
  | { readonly kind: 'transport'; readonly error: 'timeout' | 'network' | 'aborted' };

/** One attempt of one claim request (a request is retried with the same request id). */
export interface Attempt {
  readonly requestId: string;
  readonly userId: string;
  readonly templateId: string;
  /** Index of the gateway it was sent to. */
  readonly gateway: number;
  /** Epoch ms when it was sent and when its outcome was known. */
  readonly sentAt: number;
  readonly endedAt: number;
  readonly outcome: Outcome;
}

/** A template of the drill, as created. */
export interface TemplateFacts {
  readonly id: string;
  readonly totalStock: number;
  readonly perUserLimit: number;
  /** A red packet's budget and least amount (the oracle then checks every packet's amount). */
  readonly budget?: number | null;
  readonly minAmount?: number | null;
}

/** A coupon row of a shard table. */
export type CouponRow = StoredCoupon;

/** Redis's view of one template after the drain. */
export interface StockFacts {
  /** Sum of the sub-stocks; null when a sub-stock key is missing. */
  readonly remaining: number | null;
  /** Reservations still pending settle (a crash between claim-home and claim-settle). */
  readonly pending: number;
  /** A red packet: the sum of its sub-stocks' budgets left (null: a key is missing). */
  readonly budgetLeft?: number | null;
}

/** Everything the verifier judges, for one drill (or for the whole run). */
export interface DrillFacts {
  readonly templates: readonly TemplateFacts[];
  readonly attempts: readonly Attempt[];
  /** Every row of these templates in every shard table. */
  readonly rows: readonly CouponRow[];
  readonly stock: ReadonlyMap<string, StockFacts>;
  /** Dead-lettered records of these templates (or undecodable ones). */
  readonly deadLetters: number;
  /** Unacknowledged stream records when the facts were read (the drain gave up if not 0). */
  readonly backlog: number;
  /** Where an answered coupon may be lost without it being a violation (empty: nowhere). */
  readonly lossWindows: readonly LossWindow[];
}
