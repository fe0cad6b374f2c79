/**
 * zod schemas of what the gateway answers, and of the request bodies it parses by hand (the
 * claim's hand-tuned parser, the cart's): these exist only to describe them in the OpenAPI
 * document, nothing validates a request with them. claim-schema.test.ts checks that the claim's
 * schema and its parser agree.
 */
import { COUPON_STATUSES } from '../../checkout/model.ts';
import { GRANT_STATES } from '../../issuance/grant-model.ts';
import { idSchema, z } from '../../core/zod.ts';
import { TEMPLATE_STATUSES, TEMPLATE_TYPES } from '../../templates/model.ts';

const time = z.string().openapi({ format: 'date-time' });
const int = z.number().int();
const ids = z.array(z.string());

/** The body of POST /v1/claim, as parseClaim (routes/claim.ts) accepts it without a user token. */
export const claimBodySchema = z.strictObject({
  userId: idSchema.openapi({ description: 'with USER_TOKEN_SECRETS: optional, and must be the token\'s user', example: 'u1' }),
  templateId: idSchema,
  requestId: idSchema.refine((v) => !/^code:\d{1,13}$/.test(v), 'code:<number> is reserved for redemptions').optional()
    .openapi({ description: 'a retry with the same id gets the same answer, never a second coupon' }),
}).openapi('ClaimRequest');

/** The body of POST /v1/claim/batch. */
export const claimBatchBodySchema = z.strictObject({
  userId: idSchema,
  templateIds: z.array(idSchema).min(1).max(20).refine((ids) => new Set(ids).size === ids.length, 'each template at most once')
    .openapi({ description: 'distinct (ids are case-sensitive)', uniqueItems: true }),
  requestId: claimBodySchema.shape.requestId,
}).openapi('ClaimBatchRequest');

/** The body of POST /v1/redeem. */
export const redeemBodySchema = z.strictObject({
  userId: idSchema,
  code: z.string().min(1).max(64).openapi({ example: 'ABCD-EFGH-JKLM-NPQR-STUV' }),
  requestId: claimBodySchema.shape.requestId,
}).openapi('RedeemRequest');

/** A cart (checkout/cart.ts parseCart). */
export const cartSchema = z.strictObject({
  userId: idSchema,
  items: z.array(z.strictObject({
    productId: idSchema, categoryId: idSchema, price: int.min(0).openapi({ description: 'cents per unit' }), quantity: int.min(1),
  })).min(1),
}).openapi('Cart');

/** POST /v1/coupons/{couponId}/lock. */
export const lockBodySchema = z.strictObject({
  userId: idSchema, orderId: idSchema, cart: cartSchema.optional().openapi({ description: 'checks the coupon applies and returns its discount' }),
}).openapi('LockRequest');

/** The order service's calls: confirm, cancel, refund. */
export const orderBodySchema = z.strictObject({ orderId: idSchema }).openapi('OrderRequest');

/** A claim that issued (or replayed) a coupon. */
export const issuedSchema = z.object({
  status: z.literal('issued'), couponId: z.string(), templateId: z.string(), userId: z.string(),
  amount: int.optional().openapi({ description: 'a red packet\'s drawn cents' }), replayed: z.literal(true).optional(),
}).openapi('Issued');

/** One template's result in a claim batch: its claim's status, or the error code a single claim would answer. */
export const batchResultSchema = z.object({
  results: z.array(z.object({ templateId: z.string(), status: z.string(), couponId: z.string().optional(),
    amount: int.optional(), replayed: z.literal(true).optional() })),
}).openapi('ClaimBatchResult');

const scopeOut = z.object({ categories: ids, products: ids, excludeCategories: ids, excludeProducts: ids });

/** A template as the admin API shows it (templates/model.ts templateJson). */
export const templateSchema = z.object({
  id: z.string(), name: z.string(), type: z.enum(TEMPLATE_TYPES), value: int,
  threshold: int.nullable(), maxDiscount: int.nullable(), budget: int.nullable(), minAmount: int.nullable(),
  totalStock: int, perUserLimit: int, subStocks: int,
  claimStart: time.nullable(), claimEnd: time.nullable(), validFrom: time.nullable(), validTo: time.nullable(), validDays: int.nullable(),
  scope: scopeOut, stackable: z.boolean(), status: z.enum(TEMPLATE_STATUSES), version: int,
  createdAt: time, updatedAt: time,
  audience: ids.nullable().optional().openapi({ description: 'single template answers' }),
  audienceSize: int.nullable().optional().openapi({ description: 'lists, instead of audience' }),
}).openapi('Template');

/** Live stock from Redis. */
export const stockSchema = z.object({ total: int, remaining: int, issued: int, budgetLeft: int.optional() }).openapi('Stock');

/** A bulk grant job (issuance/grant-model.ts grantJson). */
export const grantSchema = z.object({
  grantId: z.string(), templateId: z.string(), state: z.enum(GRANT_STATES), total: int, granted: int,
  refused: z.record(z.string(), int), failed: int, ratePerSecond: int, startedAt: time,
  finishedAt: time.optional(), note: z.string().optional(), heldBy: z.string().optional(),
}).openapi('Grant');

/** A user's coupon as the listing shows it. */
export const couponSchema = z.object({
  couponId: z.string(), templateId: z.string(), status: z.enum(COUPON_STATUSES), claimedAt: time, validFrom: time, validTo: time,
  name: z.string(), type: z.enum(TEMPLATE_TYPES), value: int, threshold: int.nullable(), maxDiscount: int.nullable(),
  amount: int.optional(), orderId: z.string().optional(), lockedUntil: time.optional(), usedAt: time.optional(),
}).openapi('Coupon');

/** A checkout quote (checkout/quote.ts). */
export const quoteSchema = z.object({
  usable: z.array(z.object({ couponId: z.string(), templateId: z.string(), name: z.string(), discount: int, appliesTo: ids })),
  unusable: z.array(z.object({ couponId: z.string(), reason: z.string() })),
  best: z.object({ couponIds: ids, discount: int }),
}).openapi('Quote');

/** The answer of a call on one coupon by an order (lock, confirm, cancel, refund). */
export const couponStateSchema = z.object({
  couponId: z.string(), status: z.enum(COUPON_STATUSES), orderId: z.string(),
  lockedUntil: time.optional(), discount: int.optional(), usedAt: time.optional(), refundedAt: time.optional(),
}).openapi('CouponState');

/** Lists of the global blacklist. */
export const blacklistOutSchema = z.object({ categories: ids, products: ids }).openapi('BlacklistLists');

/** Claim outcomes of a template as every gateway flushed them, beside its stock. */
export const templateStatsSchema = z.object({
  templateId: z.string(), total: int, issued: int, remaining: int, rejected: z.record(z.string(), z.number()),
  claimsPerSecond: z.number(), issuedPerSecond: z.number(), windowSeconds: z.number(),
}).openapi('TemplateStats');

/** Coupons still unused that expire on a day. */
export const remindersSchema = z.object({
  reminders: z.array(z.object({ couponId: z.string(), userId: z.string(), templateId: z.string(), name: z.string(), validTo: time })),
  nextCursor: z.string().nullable(),
}).openapi('ReminderPage');

/** /readyz. */
export const readySchema = z.object({ status: z.enum(['ready', 'not_ready']), redis: z.boolean(), mysql: z.boolean(), draining: z.boolean() })
  .openapi('Readiness');
