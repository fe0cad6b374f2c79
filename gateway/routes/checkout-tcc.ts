/**
 * POST /v1/coupons/:couponId/{lock,confirm,cancel,refund}: the order service's calls on one
 * coupon (checkout/tcc.ts). Every call is idempotent: the same call again gets the same answer.
 * Lock is the user's (a user token when USER_TOKEN_SECRETS is set); confirm, cancel and refund
 * are the order service's (ORDER_SERVICE_TOKEN when set).
 */
import type { Cart, HeldCoupon } from '../../checkout/model.ts';
import type { CartFit } from '../checkout/judge.ts';
import { parseCart } from '../../checkout/cart.ts';
import { CouponNotStored, type CouponTcc } from '../../checkout/tcc.ts';
import { isMap, notAMap } from '../../core/bodies.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { verifyUserToken } from '../../core/user-token.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler, Incoming } from '../http/route.ts';

export interface TccRouteDeps {
  readonly tcc: CouponTcc;
  readonly tokenSecrets: readonly string[];
  /** Throws 401/429 unless the caller is the order service (a no-op when no token is configured). */
  readonly serviceAuth: (req: Incoming) => void;
  /** The answer for a coupon id whose row is missing: 503 while it may be on its way, else 404. */
  readonly missing: (couponId: string, now: number) => Promise<ApiError>;
  /** The coupon's discount on the cart, or why the cart does not qualify (scope and threshold). */
  readonly fit: (c: HeldCoupon, cart: Cart, now: number) => Promise<CartFit>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The JSON body as a map of `fields` only. */
function body(req: Incoming, fields: ReadonlySet<string>): Record<string, unknown> {
  const o = decodeBody(req.body, formatOf(req.contentType, false));
  if (!isMap(o)) throw notAMap(fields, false);
  for (const k of Object.keys(o)) if (!fields.has(k)) throw new ApiError('bad_request', `${k}: unknown field`);
  return o;
}

function orderIdOf(o: Record<string, unknown>): string {
  if (!isId(o.orderId)) throw new ApiError('bad_request', 'orderId: required, 1-64 characters of [A-Za-z0-9_.:-]');
  return o.orderId;
}

/** Runs a call on the coupon of the path; a missing row becomes 503 or 404, a storage failure 503. */
async function onCoupon<T>(deps: TccRouteDeps, req: Incoming, call: (couponId: string, now: number) => Promise<T>): Promise<T> {
  const couponId = req.params[0] ?? '';
  const now = Date.now();
  try {
    return await orUnavailable('mysql', () => call(couponId, now));
  } catch (err) {
    if (err instanceof CouponNotStored) throw await deps.missing(couponId, now);
    throw err;
  }
}

const LOCK_FIELDS = new Set(['userId', 'orderId', 'cart']);

/** POST /v1/coupons/:couponId/lock {userId, orderId, cart?}. */
export function lockHandler(deps: TccRouteDeps): Handler {
  return async (req) => {
    const tokenUser = deps.tokenSecrets.length > 0 ? verifyUserToken(deps.tokenSecrets, req.authorization, Date.now() / 1000) : undefined;
    const o = body(req, LOCK_FIELDS);
    if (tokenUser !== undefined && o.userId !== undefined && o.userId !== tokenUser) throw new ApiError('forbidden', 'userId: not the user of the token');
    const userId = tokenUser ?? o.userId;
    if (!isId(userId)) throw new ApiError('bad_request', 'userId: required, 1-64 characters of [A-Za-z0-9_.:-]');
    const orderId = orderIdOf(o);
    const cart = o.cart === undefined ? undefined : parseCart(o.cart, 'cart');
    if (cart && cart.userId !== userId) throw new ApiError('bad_request', 'cart.userId: must be the userId of the lock');
    const a = await onCoupon(deps, req, async (couponId, now) => {
      const fit = cart && await deps.fit(await deps.tcc.read(couponId), cart, now);
      const locked = await deps.tcc.lock(couponId, userId, orderId, now, fit && 'reason' in fit ? fit.reason : undefined);
      return { ...locked, discount: fit && 'discount' in fit ? fit.discount : undefined };
    });
    const discount = a.discount;
    return {
      status: 200,
      body: { couponId: a.couponId, status: a.status, orderId: a.orderId, lockedUntil: iso(a.lockedUntil),
        ...(discount === undefined ? {} : { discount }) },
    };
  };
}

const ORDER_FIELDS = new Set(['orderId']);

/** POST /v1/coupons/:couponId/confirm {orderId}. */
export function confirmHandler(deps: TccRouteDeps): Handler {
  return async (req) => {
    deps.serviceAuth(req);
    const orderId = orderIdOf(body(req, ORDER_FIELDS));
    const a = await onCoupon(deps, req, (couponId, now) => deps.tcc.confirm(couponId, orderId, now));
    return { status: 200, body: { couponId: a.couponId, status: a.status, orderId: a.orderId, usedAt: iso(a.usedAt) } };
  };
}

/** POST /v1/coupons/:couponId/cancel {orderId}. */
export function cancelHandler(deps: TccRouteDeps): Handler {
  return async (req) => {
    deps.serviceAuth(req);
    const orderId = orderIdOf(body(req, ORDER_FIELDS));
    const a = await onCoupon(deps, req, (couponId, now) => deps.tcc.cancel(couponId, orderId, now));
    return { status: 200, body: { couponId: a.couponId, status: a.status, orderId: a.orderId } };
  };
}

/** POST /v1/coupons/:couponId/refund {orderId}. */
export function refundHandler(deps: TccRouteDeps): Handler {
  return async (req) => {
    deps.serviceAuth(req);
    const orderId = orderIdOf(body(req, ORDER_FIELDS));
    const a = await onCoupon(deps, req, (couponId, now) => deps.tcc.refund(couponId, orderId, now));
    return { status: 200, body: { couponId: a.couponId, status: a.status, orderId: a.orderId, refundedAt: iso(a.refundedAt) } };
  };
}
