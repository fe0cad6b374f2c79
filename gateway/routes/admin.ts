/** Operator routes for templates (create, read, list, change); `auth` is the admin gate (auth/admin-guard.ts). */
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Credentials, Handler, Incoming } from '../http/route.ts';
import type { TemplateCache } from '../cache/template-cache.ts';
import { type Template, templateJson, TEMPLATE_STATUSES, type TemplateStatus } from '../../templates/model.ts';
import { parsePatch, parseTemplate, type RuleDefaults } from '../../templates/rules.ts';
import type { TemplateStore } from '../../templates/store.ts';
import { isId } from '../../core/ids.ts';

export interface AdminDeps {
  readonly store: TemplateStore;
  readonly cache: TemplateCache;
  readonly rules: RuleDefaults;
  readonly auth: (req: Credentials) => void;
}

/** POST /v1/admin/templates */
export function createTemplateHandler(d: AdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const t = parseTemplate(decodeBody(req.body, formatOf(req.contentType, false)), d.rules, Date.now());
    const { created, template } = await orUnavailable('mysql', () => d.store.create(t));
    if (!created) throw new ApiError('template_exists', `template ${t.id} already exists`);
    d.cache.put(template);
    return { status: 201, body: templateJson(template) };
  };
}

/** The `:id` of a template route, validated. */
export function templateIdParam(req: Incoming): string {
  const id = req.params[0] ?? '';
  if (!isId(id)) throw new ApiError('bad_request', 'id: 1-64 characters of [A-Za-z0-9_.:-]');
  return id;
}

/** Reads a template from MySQL; 404 when there is none. */
export async function loadTemplate(d: AdminDeps, id: string): Promise<Template> {
  const t = await orUnavailable('mysql', () => d.store.get(id));
  if (!t) throw new ApiError('template_not_found');
  return t;
}

/** GET /v1/admin/templates/:id */
export function getTemplateHandler(d: AdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const t = await loadTemplate(d, templateIdParam(req));
    const stock = await orUnavailable('redis', () => d.store.live.stock(t));
    return { status: 200, body: { ...templateJson(t), stock } };
  };
}

/** PATCH /v1/admin/templates/:id: the changes that are safe while live; applied by every gateway within a second. */
export function patchTemplateHandler(d: AdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const id = templateIdParam(req);
    const patch = parsePatch(decodeBody(req.body, formatOf(req.contentType, false)), d.rules);
    const t = await orUnavailable('mysql', () => d.store.update(id, patch, Date.now()));
    d.cache.put(t);
    return { status: 200, body: templateJson(t) };
  };
}

const LIST_PARAMS = new Set(['status', 'cursor', 'limit']);
const cursorOf = (id: string) => Buffer.from(id).toString('base64url');

/** The `status` query parameter of a template listing: a template status, or undefined when absent. */
export function templateStatusParam(q: URLSearchParams): TemplateStatus | undefined {
  const status = q.get('status') ?? undefined;
  if (status !== undefined && !TEMPLATE_STATUSES.includes(status as TemplateStatus)) {
    throw new ApiError('bad_request', `status: must be one of ${TEMPLATE_STATUSES.join(', ')}`);
  }
  return status as TemplateStatus | undefined;
}

/** GET /v1/admin/templates?status=&cursor=&limit=: a page ordered by id; audiences shown as sizes. */
export function listTemplatesHandler(d: AdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const q = queryParams(req.query, LIST_PARAMS);
    const status = templateStatusParam(q);
    const rawCursor = q.get('cursor');
    const cursor = rawCursor === null ? undefined : Buffer.from(rawCursor, 'base64url').toString();
    if (cursor !== undefined && (!isId(cursor) || cursorOf(cursor) !== rawCursor)) {
      throw new ApiError('bad_request', 'cursor: not a cursor this API returned');
    }
    const limit = limitParam(q, 50, 200);
    const page = await orUnavailable('mysql', () => d.store.list(status, cursor, limit));
    return {
      status: 200,
      body: { templates: page.templates.map((t) => templateJson(t, false)), nextCursor: page.next && cursorOf(page.next) },
    };
  };
}
