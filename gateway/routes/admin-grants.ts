/**
 * Operator routes of bulk grants: start a job with a user list (JSON or streamed text), read
 * it, pause/resume/cancel it or change its rate, page its refused users. The job itself runs in
 * the sink that holds the work lease (sink/grant-jobs.ts); these routes only read and write its
 * rows (issuance/grant-store.ts), so a change reaches it on its next look (GRANT_POLL_MS).
 */
import { logThrottled } from '../../core/log.ts';
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { GRANT_RATE_MAX, grantJson, newGrantId, templateHold } from '../../issuance/grant-model.ts';
import type { GrantChange, GrantStore } from '../../issuance/grant-store.ts';
import { bad, distinct } from '../../templates/rule-fields.ts';
import { parseBody } from '../../core/zod.ts';
import { grantChangeSchema, grantUsersSchema } from '../../issuance/grant-bodies.ts';
import { BodyAborted } from '../http/body.ts';
import type { StreamLimits } from '../http/body-stream.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Handler, Incoming } from '../http/route.ts';
import { type AdminDeps, loadTemplate, templateIdParam } from './admin.ts';
import { storeIds, storeLines } from './grant-upload.ts';

export interface GrantDeps {
  readonly grants: GrantStore;
  /** GRANT_RATE_DEFAULT: the rate of a job that names none. */
  readonly rateDefault: number;
  /** How a streamed list is buffered (GRANT_UPLOAD_BUFFER_BYTES, GRANT_UPLOAD_IDLE_MS). */
  readonly upload: StreamLimits;
}

/** True for a text/plain body (streamed, one id a line); a charset other than UTF-8 is a 415 later. */
export function isTextList(contentType: string): boolean {
  return /^\s*text\/plain\s*(;|$)/i.test(contentType);
}

const POST_QUERY = new Set(['ratePerSecond']);
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/** `?ratePerSecond=` of a text upload, if given. */
function queryRate(query: string): number | undefined {
  const raw = queryParams(query, POST_QUERY).get('ratePerSecond');
  if (raw === null) return undefined;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1 || Number(raw) > GRANT_RATE_MAX) {
    bad('ratePerSecond', `must be an integer from 1 to ${GRANT_RATE_MAX}`);
  }
  return Number(raw);
}

/** Stores the request's user list under `grantId`; returns the distinct users and the rate asked for. */
async function upload(d: GrantDeps, req: Incoming, grantId: string): Promise<{ total: number; rate: number | undefined }> {
  if (req.bodyStream) {
    const charset = CHARSET.exec(req.contentType)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
      throw new ApiError('unsupported_media_type', 'charset: only UTF-8 is accepted (charset=utf-8, or none)');
    }
    const rate = queryRate(req.query);
    return { total: await storeLines(d.grants, grantId, req.bodyStream), rate };
  }
  const o = parseBody(grantUsersSchema, decodeBody(req.body, formatOf(req.contentType, false)));
  const ids = distinct(o.userIds);
  const bodyRate = o.ratePerSecond ?? undefined;
  const rate = queryRate(req.query);
  if (bodyRate !== undefined && rate !== undefined) bad('ratePerSecond', 'give it in the body or the query, not both');
  return { total: await storeIds(d.grants, grantId, ids), rate: bodyRate ?? rate };
}

/** POST /v1/admin/templates/:id/grants: 202 { grantId, total } once the list is stored; the job starts at once. */
export function createGrantHandler(a: AdminDeps, d: GrantDeps): Handler {
  return async (req) => {
    a.auth(req);
    const t = await loadTemplate(a, templateIdParam(req));
    const grantId = newGrantId();
    let stored: { total: number; rate: number | undefined };
    try {
      stored = await upload(d, req, grantId);
      if (stored.total === 0) bad('userIds', 'the list names no user');
      await orUnavailable('mysql', () => d.grants.create(grantId, t.id, stored.total, stored.rate ?? d.rateDefault, Date.now()));
    } catch (err) {
      // The job was not created (or a create whose answer was lost did create it: then its users
      // are its list and stay): a failed upload's users are garbage, deleted in the background.
      void (async () => {
        if (await d.grants.get(grantId) === null) await d.grants.dropUsers(grantId);
      })().catch((e: unknown) => logThrottled('grant-drop', 'warn', 'could not delete a failed upload', { grantId, err: e }));
      if (err instanceof ApiError || err instanceof BodyAborted) throw err;
      logThrottled('mysql-failure', 'warn', 'mysql call failed', { err });
      throw new ApiError('unavailable', 'storage unavailable, retry shortly');
    }
    return { status: 202, body: { grantId, total: stored.total } };
  };
}

/** The `:grantId` of a grant route, validated. */
function grantIdParam(req: Incoming): string {
  const id = req.params[0] ?? '';
  if (!isId(id) || id.length > 32) throw new ApiError('bad_request', 'grantId: not a grant id');
  return id;
}

/** GET /v1/admin/grants/:grantId */
export function getGrantHandler(a: AdminDeps, d: GrantDeps): Handler {
  return async (req) => {
    a.auth(req);
    const g = await orUnavailable('mysql', () => d.grants.get(grantIdParam(req)));
    if (!g) throw new ApiError('grant_not_found');
    const body = grantJson(g);
    // a running job whose template is paused or not open yet waits: say why it does not move.
    if (g.state === 'running') {
      const t = await orUnavailable('mysql', () => a.store.get(g.templateId));
      const hold = t === null ? undefined : templateHold(t, Date.now());
      if (hold !== undefined) body.heldBy = hold;
    }
    return { status: 200, body };
  };
}

/** The body of a PATCH, validated. */
export function parseGrantChange(body: unknown): GrantChange {
  const { state, ratePerSecond: rate } = parseBody(grantChangeSchema, body);
  const ratePerSecond = rate ?? undefined;
  if (state === undefined && ratePerSecond === undefined) bad('body', 'give state or ratePerSecond');
  return { state, ratePerSecond };
}

/** PATCH /v1/admin/grants/:grantId { state?, ratePerSecond? }: the running job applies it within GRANT_POLL_MS. */
export function patchGrantHandler(a: AdminDeps, d: GrantDeps): Handler {
  return async (req) => {
    a.auth(req);
    const id = grantIdParam(req);
    const change = parseGrantChange(decodeBody(req.body, formatOf(req.contentType, false)));
    const g = await orUnavailable('mysql', () => d.grants.change(id, change, Date.now()));
    return { status: 200, body: grantJson(g) };
  };
}

const PAGE_QUERY = new Set(['cursor', 'limit']);
const cursorOf = (userId: string) => Buffer.from(userId).toString('base64url');

/** GET /v1/admin/grants/:grantId/refusals?cursor=&limit=: refused users ordered by id. */
export function grantRefusalsHandler(a: AdminDeps, d: GrantDeps): Handler {
  return async (req) => {
    a.auth(req);
    const id = grantIdParam(req);
    const q = queryParams(req.query, PAGE_QUERY);
    const raw = q.get('cursor');
    const after = raw === null ? undefined : Buffer.from(raw, 'base64url').toString();
    if (after !== undefined && (!isId(after) || cursorOf(after) !== raw)) throw new ApiError('bad_request', 'cursor: not a cursor this API returned');
    const limit = limitParam(q, 100, 1000);
    const g = await orUnavailable('mysql', () => d.grants.get(id));
    if (!g) throw new ApiError('grant_not_found');
    const rows = await orUnavailable('mysql', () => d.grants.refusals(id, after, limit));
    const body: Record<string, unknown> = { refusals: rows };
    if (rows.length === limit) body.nextCursor = cursorOf(rows[rows.length - 1]!.userId);
    return { status: 200, body };
  };
}
