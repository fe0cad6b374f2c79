/**
 * The public routes in the OpenAPI document: claims, redemptions, a user's coupons, checkout,
 * health, metrics and the document itself. Examples refer to the template the admin examples
 * create (rain-2026), so the OpenAPI test can send them in order.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { COUPON_STATUSES } from '../../checkout/model.ts';
import { idSchema, z } from '../../core/zod.ts';
import { ADMIN_ERRORS, addOperation, BODY_ERRORS, pathParam } from './operation.ts';
import { batchResultSchema, cartSchema, claimBatchBodySchema, claimBodySchema, couponSchema, couponStateSchema, issuedSchema,
  lockBodySchema, orderBodySchema, quoteSchema, readySchema, redeemBodySchema } from './shapes.ts';

const json = (schema: z.ZodType, example: unknown) => ({ 'application/json': { schema, example } });
const msgpackToo = (schema: z.ZodType, example: unknown) => ({ ...json(schema, example), 'application/msgpack': { schema } });
const CLAIM_ERRORS = [...BODY_ERRORS, 'unauthorized', 'forbidden', 'template_not_found', 'rate_limited', 'unavailable', 'request_conflict',
  'request_expired', 'replication_timeout'] as const;
const CART = { userId: 'u1', items: [{ productId: 'p1', categoryId: 'c1', price: 2000, quantity: 1 }] };
const couponParams = z.object({ couponId: pathParam(z.string(), 'c-placeholder') });
const ORDER_ERRORS = [...BODY_ERRORS, 'unauthorized', 'rate_limited', 'coupon_not_found', 'unavailable', 'coupon_locked', 'coupon_used',
  'order_cancelled', 'lock_expired', 'not_locked', 'not_used', 'order_refunded', 'coupon_expired'] as const;

/** Registers the public routes. */
export function addPublicPaths(reg: OpenAPIRegistry): void {
  addOperation(reg, {
    method: 'post', path: '/v1/claim', tag: 'claims', summary: 'Claim one coupon of a template (JSON or msgpack; the answer is in the same format)',
    caller: 'user', body: msgpackToo(claimBodySchema, { userId: 'u1', templateId: 'rain-2026', requestId: 'req-1' }),
    answers: { 200: { description: 'issued, or replayed for the same requestId', schema: issuedSchema } },
    errors: CLAIM_ERRORS, refusals: ['limit_reached', 'sold_out', 'not_started', 'ended', 'paused', 'not_eligible'],
  });
  addOperation(reg, {
    method: 'post', path: '/v1/claim/batch', tag: 'claims', summary: 'Claim several templates at once, each decided as a single claim',
    caller: 'user', body: msgpackToo(claimBatchBodySchema, { userId: 'u2', templateIds: ['rain-2026', 'no-such-template'] }),
    answers: { 200: { description: 'one result per template', schema: batchResultSchema } },
    errors: [...BODY_ERRORS, 'unauthorized', 'forbidden'],
  });
  addOperation(reg, {
    method: 'post', path: '/v1/redeem', tag: 'claims', summary: 'Redeem a code for a coupon of its template',
    caller: 'user', body: msgpackToo(redeemBodySchema, { userId: 'u3', code: 'ABCD-EFGH-JKLM-NPQR-STUV' }),
    answers: { 200: { description: 'issued, or replayed', schema: issuedSchema } },
    errors: [...CLAIM_ERRORS, 'invalid_code', 'too_many_failures'],
    refusals: ['limit_reached', 'sold_out', 'not_started', 'ended', 'paused', 'not_eligible', 'code_used'],
  });
  addOperation(reg, {
    method: 'get', path: '/v1/users/{userId}/coupons', tag: 'coupons', summary: 'A user\'s coupons, newest first',
    caller: 'user', params: z.object({ userId: pathParam(idSchema, 'u1') }),
    query: z.object({ status: z.enum(COUPON_STATUSES).optional(), limit: z.string().regex(/^\d{1,4}$/).optional().openapi({ description: '1-200, default 50' }) }),
    answers: { 200: { description: 'the page', schema: z.object({ coupons: z.array(couponSchema) }) } },
    errors: ['bad_request', 'unauthorized', 'forbidden', 'unavailable'],
  });
  addOperation(reg, {
    method: 'post', path: '/v1/checkout/quote', tag: 'checkout', summary: 'Which of the user\'s coupons apply to a cart, and the best combination',
    caller: 'user', body: json(cartSchema, CART),
    answers: { 200: { description: 'the quote', schema: quoteSchema } },
    errors: [...BODY_ERRORS, 'unauthorized', 'forbidden', 'unavailable'],
  });
  addOperation(reg, {
    method: 'post', path: '/v1/coupons/{couponId}/lock', tag: 'checkout', summary: 'Lock a coupon for an order (Try)',
    caller: 'user', params: couponParams, body: json(lockBodySchema, { userId: 'u1', orderId: 'o1', cart: CART }),
    answers: { 200: { description: 'locked (again, for the same order)', schema: couponStateSchema } },
    errors: [...ORDER_ERRORS, 'forbidden', 'not_applicable'],
  });
  const orderCall = (verb: string, summary: string) => addOperation(reg, {
    method: 'post', path: `/v1/coupons/{couponId}/${verb}`, tag: 'checkout', summary,
    caller: 'orderService', params: couponParams, body: json(orderBodySchema, { orderId: 'o1' }),
    answers: { 200: { description: 'done (again, for the same order)', schema: couponStateSchema } },
    errors: ORDER_ERRORS,
  });
  orderCall('confirm', 'Confirm the order\'s use of its locked coupon (Confirm)');
  orderCall('cancel', 'Release the order\'s lock (Cancel)');
  orderCall('refund', 'Return a used coupon to its user');
  addOperation(reg, {
    method: 'get', path: '/healthz', tag: 'operations', summary: 'Liveness: answering at all is the signal',
    answers: { 200: { description: 'up', schema: z.object({ status: z.literal('ok') }) } }, errors: [],
  });
  addOperation(reg, {
    method: 'get', path: '/readyz', tag: 'operations', summary: 'Readiness: Redis and MySQL reachable, not shutting down',
    answers: { 200: { description: 'ready', schema: readySchema }, 503: { description: 'not ready (Retry-After: 1)', schema: readySchema } },
    errors: [],
  });
  addOperation(reg, {
    method: 'get', path: '/metrics', tag: 'operations', summary: 'Prometheus text (admin token unless METRICS_PUBLIC=1)',
    caller: 'admin', answers: { 200: { description: 'the scrape', schema: z.string(), contentType: 'text/plain' } }, errors: [...ADMIN_ERRORS, 'unavailable'],
  });
  addOperation(reg, {
    method: 'get', path: '/openapi.json', tag: 'operations', summary: 'This document',
    answers: { 200: { description: 'OpenAPI 3.1', schema: z.looseObject({ openapi: z.string() }) } }, errors: [],
  });
}
