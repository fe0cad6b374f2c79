/**
 * The requests a scenario sends and how their answers are read. Bodies are encoded once, when a
 * workload builds its requests, so the load generator spends no CPU per request on them.
 */
import { Packr } from 'msgpackr';
import { signUserToken } from '../core/user-token.ts';
import type { BodyFormat } from './options.ts';

/** Who claims what: the identity the verifier checks answers and rows against. */
export interface ClaimKey {
  readonly templateId: string;
  readonly userId: string;
  readonly requestId?: string;
}

/** "claim all": one user, several templates, one request. */
export interface BatchKey {
  readonly userId: string;
  readonly templateIds: readonly string[];
  readonly requestId?: string;
}

/** A redemption: who sends which code, and what the code is (the verifier's key for it). */
export interface RedeemKey {
  readonly userId: string;
  readonly code: string;
  /** The code's template. */
  readonly templateId: string;
  /** The code's number (redemption/code-mac.ts); undefined for a code that must be refused invalid_code. */
  readonly number?: number;
}

export type RequestKind = 'claim' | 'batch' | 'redeem' | 'list' | CheckoutKind;

/** The checkout calls (the checkout scenario). */
export type CheckoutKind = 'quote' | 'lock' | 'confirm' | 'cancel' | 'refund';

export interface RequestSpec {
  readonly kind: RequestKind;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** Set on claims. */
  readonly claim?: ClaimKey;
  /** Set on batch claims. */
  readonly batch?: BatchKey;
  /** Set on redemptions. */
  readonly redeem?: RedeemKey;
  readonly format: BodyFormat;
}

/**
 * An endless, deterministic request sequence: request(g) for g = 0, 1, 2, ... Request g and
 * g + distinct are the same request (a user coming back). Drivers map their connections onto g.
 */
export interface Workload {
  readonly distinct: number;
  request(g: number): RequestSpec;
}

// Plain maps, like the gateway's codec: any msgpack client can read them.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

const CONTENT_TYPE: Record<BodyFormat, string> = { json: 'application/json', msgpack: 'application/msgpack' };

/** Headers a request of this user carries besides its own: a user token when the gateway requires one. */
export type UserAuth = (userId: string) => Readonly<Record<string, string>>;

/** No user tokens (the gateway's USER_TOKEN_SECRETS is empty), or one signed per request with the first secret. */
export function userAuth(secrets: readonly string[]): UserAuth {
  const [secret] = secrets;
  if (secret === undefined) return () => ({});
  // An hour covers any bounded run; signing costs the load generator about a microsecond.
  return (userId) => ({ authorization: `Bearer ${signUserToken(secret, userId, Math.floor(Date.now() / 1000) + 3600)}` });
}

/** POST /v1/claim for `key`, encoded in `format`. */
export function claimRequest(key: ClaimKey, format: BodyFormat, auth: UserAuth): RequestSpec {
  const body = { userId: key.userId, templateId: key.templateId, ...(key.requestId ? { requestId: key.requestId } : {}) };
  return {
    kind: 'claim', method: 'POST', path: '/v1/claim', format, claim: key,
    headers: { 'content-type': CONTENT_TYPE[format], ...auth(key.userId) },
    body: format === 'json' ? Buffer.from(JSON.stringify(body)) : packr.pack(body),
  };
}

/** POST /v1/claim/batch for `key`, encoded in `format`. */
export function batchRequest(key: BatchKey, format: BodyFormat, auth: UserAuth): RequestSpec {
  const body = { userId: key.userId, templateIds: key.templateIds, ...(key.requestId ? { requestId: key.requestId } : {}) };
  return {
    kind: 'batch', method: 'POST', path: '/v1/claim/batch', format, batch: key,
    headers: { 'content-type': CONTENT_TYPE[format], ...auth(key.userId) },
    body: format === 'json' ? Buffer.from(JSON.stringify(body)) : packr.pack(body),
  };
}

/** POST /v1/redeem of `key.code` by `key.userId`, encoded in `format`. */
export function redeemRequest(key: RedeemKey, format: BodyFormat, auth: UserAuth): RequestSpec {
  const body = { userId: key.userId, code: key.code };
  return {
    kind: 'redeem', method: 'POST', path: '/v1/redeem', format, redeem: key,
    headers: { 'content-type': CONTENT_TYPE[format], ...auth(key.userId) },
    body: format === 'json' ? Buffer.from(JSON.stringify(body)) : packr.pack(body),
  };
}

/** GET /v1/users/{userId}/coupons. */
export function listRequest(userId: string, auth: UserAuth, limit = 20): RequestSpec {
  return { kind: 'list', method: 'GET', path: `/v1/users/${encodeURIComponent(userId)}/coupons?limit=${limit}`, headers: auth(userId), format: 'json' };
}

/** POST of a checkout call: the quote, or a TCC call on one coupon; `headers` carry the caller's token. */
export function checkoutRequest(kind: CheckoutKind, body: unknown, headers: Readonly<Record<string, string>>, couponId?: string): RequestSpec {
  const path = kind === 'quote' ? '/v1/checkout/quote' : `/v1/coupons/${encodeURIComponent(couponId!)}/${kind}`;
  return { kind, method: 'POST', path, format: 'json', headers: { 'content-type': CONTENT_TYPE.json, ...headers }, body: Buffer.from(JSON.stringify(body)) };
}

/** What a 200 claim answer said. */
export interface ClaimAnswerBody {
  readonly couponId: string;
  readonly userId: string;
  readonly templateId: string;
  /** A red packet's amount in cents. */
  readonly amount?: number;
  readonly replayed: boolean;
}

function decode(body: Buffer, format: BodyFormat): unknown {
  try {
    return format === 'json' ? JSON.parse(body.toString('utf8')) : packr.unpack(body);
  } catch {
    return undefined;
  }
}

/** Decodes a 200 claim answer; undefined when it is not one (the caller counts it as undecodable). */
export function decodeClaimAnswer(body: Buffer, format: BodyFormat): ClaimAnswerBody | undefined {
  const v = decode(body, format);
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.status !== 'issued' || typeof o.couponId !== 'string' || typeof o.userId !== 'string' || typeof o.templateId !== 'string') {
    return undefined;
  }
  return { couponId: o.couponId, userId: o.userId, templateId: o.templateId, replayed: o.replayed === true,
    ...(typeof o.amount === 'number' ? { amount: o.amount } : {}) };
}

/** The reason a refusal or error answer names (its `status` or `error` field), or undefined. */
export function decodeReason(body: Buffer, format: BodyFormat): string | undefined {
  const v = decode(body, format) as Record<string, unknown> | undefined;
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v.error ?? v.status;
  return typeof r === 'string' ? r : undefined;
}

/** One template's result in a 200 batch answer. */
export interface BatchResult {
  readonly templateId: string;
  readonly status: string;
  readonly couponId?: string;
  /** A red packet's amount in cents. */
  readonly amount?: number;
  readonly replayed: boolean;
}

/** Decodes a 200 batch answer; undefined when it is not one (each of its templates is then uncertain). */
export function decodeBatchAnswer(body: Buffer, format: BodyFormat): BatchResult[] | undefined {
  const v = decode(body, format) as { results?: unknown } | undefined;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.results)) return undefined;
  const out: BatchResult[] = [];
  for (const r of v.results as Record<string, unknown>[]) {
    if (typeof r !== 'object' || r === null || typeof r.templateId !== 'string' || typeof r.status !== 'string') return undefined;
    if (r.status === 'issued' && typeof r.couponId !== 'string') return undefined;
    out.push({ templateId: r.templateId, status: r.status, couponId: r.couponId as string | undefined, replayed: r.replayed === true,
      ...(typeof r.amount === 'number' ? { amount: r.amount } : {}) });
  }
  return out;
}
