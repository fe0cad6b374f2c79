/**
 * The admin routes in the OpenAPI document. Their bodies are described by the very schemas that
 * validate them (templates/, issuance/, redemption/). Examples build on each other in the order
 * an operator works: create rain-2026, read it, top it up, make codes, grant, then pause it.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { idSchema, z } from '../../core/zod.ts';
import { grantChangeSchema, grantUsersSchema } from '../../issuance/grant-bodies.ts';
import { codeBatchSchema } from '../../redemption/batch-request.ts';
import { blacklistSchema, stockChangeSchema } from '../../templates/admin-bodies.ts';
import { TEMPLATE_STATUSES } from '../../templates/model.ts';
import { type RuleDefaults, templateCreateSchema, templatePatchSchema } from '../../templates/rules.ts';
import { ADMIN_ERRORS, addOperation, BODY_ERRORS, pathParam } from './operation.ts';
import { blacklistOutSchema, grantSchema, remindersSchema, stockSchema, templateSchema, templateStatsSchema } from './shapes.ts';

const json = (schema: z.ZodType, example: unknown) => ({ 'application/json': { schema, example } });
const ADMIN_BODY = [...ADMIN_ERRORS, ...BODY_ERRORS, 'unavailable'] as const;
const ADMIN_READ = [...ADMIN_ERRORS, 'bad_request', 'unavailable'] as const;
const templateId = z.object({ id: pathParam(idSchema, 'rain-2026') });
const grantId = z.object({ grantId: pathParam(z.string().max(32), 'g-placeholder') });
const limit = (max: number, def: number) => z.string().regex(/^\d{1,4}$/).optional().openapi({ description: `1-${max}, default ${def}` });
const cursor = z.string().optional().openapi({ description: 'nextCursor of the previous page' });

/** Registers the admin routes; `rules` are the running config's bounds (audience size). */
export function addAdminPaths(reg: OpenAPIRegistry, rules: RuleDefaults): void {
  const admin = { tag: 'admin', caller: 'admin' } as const;
  addOperation(reg, {
    ...admin, method: 'post', path: '/v1/admin/templates', summary: 'Create a template',
    body: json(templateCreateSchema(rules), { id: 'rain-2026', name: '20:00 rain', type: 'direct', value: 500, totalStock: 1000, perUserLimit: 1 }),
    answers: { 201: { description: 'created', schema: templateSchema } },
    errors: [...ADMIN_BODY, 'template_exists', 'budget_too_small'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/templates', summary: 'A page of templates ordered by id (audiences as sizes)',
    query: z.object({ status: z.enum(TEMPLATE_STATUSES).optional(), cursor, limit: limit(200, 50) }),
    answers: { 200: { description: 'the page', schema: z.object({ templates: z.array(templateSchema), nextCursor: z.string().nullable().optional() }) } },
    errors: ADMIN_READ,
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/templates/{id}', summary: 'A template with its live stock', params: templateId,
    answers: { 200: { description: 'the template', schema: templateSchema.extend({ stock: stockSchema }) } },
    errors: [...ADMIN_READ, 'template_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'patch', path: '/v1/admin/templates/{id}', summary: 'Change what is safe while live (every gateway applies it within a second)',
    params: templateId, body: json(templatePatchSchema(rules), { status: 'paused' }),
    answers: { 200: { description: 'the new version', schema: templateSchema } },
    errors: [...ADMIN_BODY, 'template_not_found', 'version_conflict'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/templates/{id}/stats', summary: 'Stock and claim outcomes of a template', params: templateId,
    answers: { 200: { description: 'the stats', schema: templateStatsSchema } },
    errors: [...ADMIN_READ, 'template_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'post', path: '/v1/admin/templates/{id}/stock', summary: 'Top up or reduce the stock, once per requestId',
    params: templateId, body: json(stockChangeSchema, { add: 500, requestId: 'topup-1' }),
    answers: { 200: { description: 'applied (replayed: true for a requestId seen before)', schema: z.object({
      template: templateSchema, stock: stockSchema, requestId: z.string(), requested: z.number().int(), added: z.number().int(),
      replayed: z.literal(true).optional() }) } },
    errors: [...ADMIN_BODY, 'template_not_found', 'stock_fixed', 'request_conflict', 'request_expired', 'replication_timeout'],
  });
  addOperation(reg, {
    ...admin, method: 'post', path: '/v1/admin/templates/{id}/grants', summary: 'Grant coupons to a list of users (JSON, or text/plain one id a line, streamed)',
    params: templateId, query: z.object({ ratePerSecond: z.string().regex(/^\d{1,7}$/).optional().openapi({ description: 'text/plain uploads' }) }),
    body: { ...json(grantUsersSchema, { userIds: ['u1', 'u2', 'u3'], ratePerSecond: 100 }), 'text/plain': { schema: z.string() } },
    answers: { 202: { description: 'the list is stored; the job runs in a sink', schema: z.object({ grantId: z.string(), total: z.number().int() }) } },
    errors: [...ADMIN_BODY, 'template_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/grants/{grantId}', summary: 'A grant job', params: grantId,
    answers: { 200: { description: 'the job', schema: grantSchema } }, errors: [...ADMIN_READ, 'grant_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'patch', path: '/v1/admin/grants/{grantId}', summary: 'Pause, resume, cancel a job or change its rate', params: grantId,
    body: json(grantChangeSchema, { ratePerSecond: 50 }),
    answers: { 200: { description: 'the job', schema: grantSchema } }, errors: [...ADMIN_BODY, 'grant_not_found', 'grant_state_conflict'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/grants/{grantId}/refusals', summary: 'Users a job refused, ordered by id', params: grantId,
    query: z.object({ cursor, limit: limit(1000, 100) }),
    answers: { 200: { description: 'the page', schema: z.object({
      refusals: z.array(z.looseObject({ userId: z.string() })), nextCursor: z.string().optional() }) } },
    errors: [...ADMIN_READ, 'grant_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'post', path: '/v1/admin/templates/{id}/codes', summary: 'Create a batch of redemption codes', params: templateId,
    body: json(codeBatchSchema, { count: 10, batchId: 'batch-1' }),
    answers: { 201: { description: 'created (or the same batch again)', schema: z.object({ batchId: z.string(), count: z.number().int() }) } },
    errors: [...ADMIN_BODY, 'template_not_found', 'batch_conflict'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/code-batches/{batchId}/codes', summary: 'Download a batch\'s codes, one a line',
    params: z.object({ batchId: pathParam(idSchema, 'batch-1') }),
    answers: { 200: { description: 'the codes', schema: z.string(), contentType: 'text/plain' } },
    errors: [...ADMIN_READ, 'not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/reminders', summary: 'Unused coupons that expire on a UTC day',
    query: z.object({ day: z.string().openapi({ format: 'date', example: '2030-01-01', param: { example: '2030-01-01' } }), cursor, limit: limit(1000, 100) }),
    answers: { 200: { description: 'the page', schema: remindersSchema } }, errors: ADMIN_READ,
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/blacklist', summary: 'The global blacklist',
    answers: { 200: { description: 'the lists', schema: blacklistOutSchema } }, errors: ADMIN_READ,
  });
  addOperation(reg, {
    ...admin, method: 'put', path: '/v1/admin/blacklist', summary: 'Replace the global blacklist',
    body: json(blacklistSchema, { categories: ['tobacco'], products: ['sku-banned'] }),
    answers: { 200: { description: 'the lists, sorted, without repeats', schema: blacklistOutSchema } }, errors: ADMIN_BODY,
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/coupons/{couponId}', summary: 'What happened to a coupon: its row, orders and transitions',
    params: z.object({ couponId: pathParam(z.string(), 'c-placeholder') }),
    answers: { 200: { description: 'the history', schema: z.looseObject({}) } }, errors: [...ADMIN_READ, 'coupon_not_found'],
  });
  addOperation(reg, {
    ...admin, method: 'get', path: '/v1/admin/overview', summary: 'A page of templates with stock and recent claim rates (what the console polls)',
    query: z.object({ status: z.enum(TEMPLATE_STATUSES).optional(), after: idSchema.optional().openapi({ description: 'the last id of the previous page' }),
      limit: limit(50, 50) }),
    answers: { 200: { description: 'the page; rates averaged over the last rateWindowSeconds whole seconds of every gateway', schema: z.object({
      templates: z.array(z.object({ id: z.string(), name: z.string(), type: z.string(), status: z.enum(TEMPLATE_STATUSES), version: z.number().int(),
        total: z.number().int(), issued: z.number().int(), remaining: z.number().int(), claimsPerSecond: z.number(), issuedPerSecond: z.number() })),
      next: z.string().nullable(), rateWindowSeconds: z.number().int(), at: z.string() }) } },
    errors: ADMIN_READ,
  });
  // The console's page and files: no token, they hold no data (routes/console.ts); its script sends the token.
  for (const [path, type, summary] of [['/console', 'text/html', 'The operator console'], ['/console/console.js', 'text/javascript', 'The console\'s script'],
    ['/console/console.css', 'text/css', 'The console\'s style sheet']] as const) {
    addOperation(reg, { method: 'get', path, tag: 'console', summary, answers: { 200: { description: 'the file', schema: z.string(), contentType: type } }, errors: [] });
  }
}
