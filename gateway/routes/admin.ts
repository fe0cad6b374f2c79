/** Operator routes: create and read templates, behind a bearer token compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError, orUnavailable } from '../http/errors.ts';
import { decodeBody, formatOf } from '../http/codec.ts';
import type { Handler, Incoming } from '../http/route.ts';
import type { TemplateCache } from '../templates/cache.ts';
import { templateJson } from '../templates/model.ts';
import { parseTemplate, type RuleDefaults } from '../templates/rules.ts';
import type { TemplateStore } from '../templates/store.ts';
import { isId } from '../validate.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Checks `Authorization: Bearer <token>`; hashing first makes the comparison length-independent. */
export function bearerCheck(token: string): (req: Incoming) => void {
  const want = digest(token);
  return (req) => {
    const m = /^Bearer (\S+)$/.exec(req.authorization);
    if (!m || !timingSafeEqual(digest(m[1]!), want)) throw new ApiError('unauthorized', 'missing or wrong admin token');
  };
}

export interface AdminDeps {
  readonly store: TemplateStore;
  readonly cache: TemplateCache;
  readonly rules: RuleDefaults;
  readonly auth: (req: Incoming) => void;
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

/** GET /v1/admin/templates/:id */
export function getTemplateHandler(d: AdminDeps): Handler {
  return async (req) => {
    d.auth(req);
    const id = req.params[0] ?? '';
    if (!isId(id)) throw new ApiError('bad_request', 'id: 1-64 characters of [A-Za-z0-9_.:-]');
    const t = await orUnavailable('mysql', () => d.store.get(id));
    if (!t) throw new ApiError('template_not_found');
    const stock = await orUnavailable('redis', () => d.store.stock(t));
    return { status: 200, body: { ...templateJson(t), stock } };
  };
}
