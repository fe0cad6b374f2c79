// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The OpenAPI document is true: a real gateway (and sink) serves it; it is OpenAPI 3.1 with
 * every $ref resolving; it describes exactly the routes the gateway registered (both ways); and
 * every documented example request, sent in an operator's order, gets a documented status and an
 * answer that its documented schema (JSON Schema 2020-12, ajv) accepts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Gateway, startGateway } from '../../gateway/app.ts';
import type { RouteEntry } from '../../gateway/route-table.ts';
import { createLog } from '../../sink/log.ts';
import { type Sink, startSink } from '../../sink/sink.ts';
import { loadConfigWith } from '../../config/index.ts';
import { drained, openStorage, type Storage, testEnv } from '../../tools/harness/storage.ts';
import { ADMIN, http } from '../support/http.ts';
import { AnswerValidator, type Json, type Operation, operations, shapeOf, structureProblems } from '../support/openapi.ts';

let s: Storage;
let sink: Sink;
let gw: Gateway;
let base: string;
let doc: Json;
const env = testEnv({ HOST: '127.0.0.1', PORT: '0' });

before(async () => {
  s = await openStorage(loadConfigWith(env));
  sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  gw = await startGateway(s.cfg);
  base = `http://127.0.0.1:${gw.port}`;
  const r = await http('GET', `${base}/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  doc = r.json;
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await s?.close();
});

test('the document is OpenAPI 3.1 and every $ref resolves', () => {
  assert.deepEqual(structureProblems(doc), []);
});

test('the document describes exactly the routes the gateway registered', () => {
  sameRoutes(gw.routes);
});

test('ADMIN_ROUTES=separate: both listeners together serve what is documented, and both serve the document', async () => {
  const g = await startGateway(loadConfigWith({ ...env, ADMIN_ROUTES: 'separate', ADMIN_PORT: '0' }));
  try {
    sameRoutes(g.routes);
    assert.ok(!g.routes.some((r) => r.listener === 'public' && /^\/(v1\/admin|metrics)/.test(r.pattern)), 'admin routes on the public listener');
    for (const port of [g.port, g.adminPort]) assert.deepEqual((await http('GET', `http://127.0.0.1:${port}/openapi.json`)).json, doc);
  } finally {
    await g.stop();
  }
});

/** Asserts that `routes` are exactly the document's operations, and their fallbacks of its paths only. */
function sameRoutes(routes: readonly RouteEntry[]): void {
  const served = new Set(routes.filter((r) => r.method !== 'any').map((r) => `${r.method.toUpperCase()} ${shapeOf(r.pattern)}`));
  const documented = new Set(operations(doc).map((o) => `${o.method} ${shapeOf(o.path)}`));
  assert.deepEqual([...served].filter((k) => !documented.has(k)), [], 'served but not documented');
  assert.deepEqual([...documented].filter((k) => !served.has(k)), [], 'documented but not served');
  // The fallbacks (`any`: 405 on a known path, 404 elsewhere) are of documented paths only.
  const paths = new Set(operations(doc).map((o) => shapeOf(o.path)));
  const stray = routes.filter((r) => r.method === 'any' && r.pattern !== '/*' && !paths.has(shapeOf(r.pattern)));
  assert.deepEqual(stray, []);
}

// An operator's order: the examples build on each other (rain-2026 is created first, paused last).
const ORDER = [
  'POST /v1/admin/templates', 'GET /v1/admin/templates', 'GET /v1/admin/templates/{id}', 'POST /v1/admin/templates/{id}/stock',
  'GET /v1/admin/templates/{id}/stats', 'POST /v1/admin/templates/{id}/codes', 'GET /v1/admin/code-batches/{batchId}/codes',
  'POST /v1/claim', 'POST /v1/claim/batch', 'POST /v1/redeem', 'GET /v1/users/{userId}/coupons', 'POST /v1/checkout/quote',
  'POST /v1/coupons/{couponId}/lock', 'POST /v1/coupons/{couponId}/confirm', 'POST /v1/coupons/{couponId}/cancel',
  'POST /v1/coupons/{couponId}/refund', 'GET /v1/admin/coupons/{couponId}', 'POST /v1/admin/templates/{id}/grants',
  'GET /v1/admin/grants/{grantId}', 'PATCH /v1/admin/grants/{grantId}', 'GET /v1/admin/grants/{grantId}/refusals',
  'PUT /v1/admin/blacklist', 'GET /v1/admin/blacklist', 'GET /v1/admin/reminders', 'PATCH /v1/admin/templates/{id}',
];
// Answers other than 2xx that the examples get in this order: a confirmed order cannot cancel;
// the grant may be done (its users had all claimed) before its change arrives.
const EXPECTED: Record<string, readonly number[]> = {
  'POST /v1/coupons/{couponId}/cancel': [409], 'PATCH /v1/admin/grants/{grantId}': [200, 409],
};
const rank = (o: Operation) => (ORDER.includes(o.key) ? ORDER.indexOf(o.key) : ORDER.length);

test('every documented example gets a documented status and a conforming answer', async () => {
  const validator = new AnswerValidator(doc);
  // Values only a running system knows (ids it made), used in place of the examples' placeholders.
  const found: Record<string, string> = {};
  const ops = operations(doc).sort((a, b) => rank(a) - rank(b));
  for (const o of ops) {
    if (o.key === 'GET /v1/users/{userId}/coupons') await until(() => drained(s));
    const { url, body, headers } = exampleRequest(o, found);
    const r = await http(o.method, url, body, headers);
    const documented = o.op.responses[String(r.status)];
    assert.ok(documented, `${o.key}: status ${r.status} is not documented (${r.raw.toString().slice(0, 200)})`);
    assert.ok((EXPECTED[o.key] ?? [200, 201, 202]).includes(r.status), `${o.key}: ${r.status} ${r.raw.toString().slice(0, 200)}`);
    const mediaType = String(r.headers['content-type']).split(';')[0]!.trim();
    assert.ok(documented.content?.[mediaType], `${o.key} ${r.status}: ${mediaType} is not a documented content type`);
    const errors = validator.errors(o, r.status, mediaType, mediaType === 'application/json' ? r.json : r.raw.toString());
    assert.equal(errors, null, `${o.key} ${r.status}: the answer does not fit its schema: ${errors}\n${r.raw.toString().slice(0, 300)}`);
    learn(o.key, r.json ?? r.raw.toString(), found);
  }
});

test('refusals are documented too: a body that is not JSON, a missing admin token', async () => {
  const validator = new AnswerValidator(doc);
  for (const o of operations(doc)) {
    const { url, body, headers } = exampleRequest(o, {});
    const tries: [string, Record<string, string>, unknown][] = [];
    if (body !== undefined) tries.push(['not JSON', headers, '{"oops"']);
    if (headers.authorization) tries.push(['no token', { ...headers, authorization: '' }, body]);
    for (const [what, h, b] of tries) {
      const r = await http(o.method, url, b, h);
      assert.ok(r.status >= 400, `${o.key} (${what}): ${r.status}`);
      assert.ok(o.op.responses[String(r.status)], `${o.key} (${what}): status ${r.status} is not documented (${r.raw.toString().slice(0, 200)})`);
      assert.equal(validator.errors(o, r.status, 'application/json', r.json), null, `${o.key} (${what}) ${r.status}`);
    }
  }
});

/** The example request of `o`: path and query parameters, the body of its first example, its caller's token. */
function exampleRequest(o: Operation, found: Record<string, string>): { url: string; body?: unknown; headers: Record<string, string> } {
  let path = o.path;
  const query = new URLSearchParams();
  for (const p of o.op.parameters ?? []) {
    const v = found[p.name] ?? p.example ?? p.schema?.example;
    if (v === undefined) {
      assert.ok(!p.required, `${o.key}: required parameter ${p.name} has no example`);
      continue;
    }
    if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(String(v)));
    else if (p.in === 'query') query.set(p.name, String(v));
  }
  const headers: Record<string, string> = (o.op.security ?? []).some((x: Json) => 'adminToken' in x) ? { ...ADMIN } : {};
  let body: unknown;
  const content = Object.entries<Json>(o.op.requestBody?.content ?? {}).find(([, m]) => m.example !== undefined);
  if (o.op.requestBody?.required) assert.ok(content, `${o.key}: its body has no example`);
  if (content) {
    headers['content-type'] = content[0];
    body = o.key === 'POST /v1/redeem' && found.code ? { ...content[1].example, code: found.code } : content[1].example;
  }
  return { url: `${base}${path}${query.size ? `?${query}` : ''}`, body, headers };
}

/** Keeps the ids an answer made, for the operations after it. */
function learn(key: string, answer: Json, found: Record<string, string>): void {
  if (key === 'POST /v1/claim' && answer?.couponId) found.couponId = answer.couponId;
  if (key === 'POST /v1/admin/templates/{id}/grants' && answer?.grantId) found.grantId = answer.grantId;
  if (key === 'GET /v1/admin/code-batches/{batchId}/codes' && typeof answer === 'string') found.code = answer.split('\n')[0]!;
}

async function until(f: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    assert.ok(Date.now() < end, 'timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
