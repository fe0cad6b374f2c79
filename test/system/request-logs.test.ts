// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The gateway's request log (issue 14, item 4) on a real gateway at LOG_LEVEL=debug: every
 * non-claim request has a request id (the client's when sane, else a new one), echoed and on
 * its access line; admin requests log at info; claims log nothing; an unexpected 500 logs
 * method, path, request id and the error's stack.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type LogRecord, logRecords } from '../../tools/harness/log-lines.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { mainDbName } from '../../core/shards.ts';

const env = testEnv();
let s: Storage;
let gw: GatewayProc;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway({ ...env, LOG_LEVEL: 'debug' });
});
after(async () => {
  await gw?.stop();
  await s?.close();
});

/** The gateway's records with request id `id`, once its access line is out. */
async function linesOf(id: string): Promise<LogRecord[]> {
  const of = () => logRecords(gw.log()).filter((r) => r.reqId === id);
  await waitFor(async () => of().some((r) => r.msg === 'request'), 5_000, `the access line of ${id}`);
  return of();
}

test('a sane X-Request-Id is echoed and carried by the access line (debug on a public route)', async () => {
  const r = await http('GET', `${gw.url}/healthz`, undefined, { 'x-request-id': 'trace-Abc.123:x' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-request-id'], 'trace-Abc.123:x');
  const [line] = await linesOf('trace-Abc.123:x');
  assert.equal(line!.level, 'debug');
  assert.equal(line!.role, 'gateway');
  assert.equal(line!.pid, gw.child.pid);
  assert.equal(typeof line!.time, 'string');
  assert.deepEqual([line!.method, line!.path, line!.status], ['GET', '/healthz', 200]);
  assert.equal(typeof line!.ms, 'number');
});

test('without one, or with one that is not sane, the gateway makes an id', async () => {
  const ids = new Set<string>();
  for (const header of [undefined, 'has space', 'x'.repeat(129), 'é']) {
    const r = await http('GET', `${gw.url}/healthz`, undefined, header === undefined ? {} : { 'x-request-id': header });
    const id = r.headers['x-request-id'] as string;
    assert.match(id, /^[\w-]+-[0-9a-z]+$/, `made for ${header}`);
    ids.add(id);
    assert.equal((await linesOf(id)).length, 1);
  }
  assert.equal(ids.size, 4, 'each request its own id');
});

test('an admin request logs one access line at info, a refused one too', async () => {
  const ok = await http('GET', `${gw.url}/v1/admin/templates`, undefined, { ...ADMIN, 'x-request-id': 'admin-list-1' });
  assert.equal(ok.status, 200);
  const [line] = await linesOf('admin-list-1');
  assert.deepEqual([line!.level, line!.msg, line!.method, line!.path, line!.status], ['info', 'request', 'GET', '/v1/admin/templates', 200]);
  const refused = await http('GET', `${gw.url}/v1/admin/templates`, undefined, { authorization: 'Bearer wrong', 'x-request-id': 'admin-list-2' });
  assert.equal(refused.status, 401);
  assert.equal((await linesOf('admin-list-2'))[0]!.status, 401);
});

test('claims, issued or refused, log nothing and carry no request id', async () => {
  const t = await createTemplate(gw.url, { name: 'quiet', type: 'direct', value: 100, totalStock: 1000, perUserLimit: 1 });
  // Traced requests before and after them: once the later one's line is out, any line of the claims would be too.
  await http('GET', `${gw.url}/healthz`, undefined, { 'x-request-id': 'before-claims' });
  await linesOf('before-claims');
  for (let i = 0; i < 50; i++) {
    const r = await http('POST', `${gw.url}/v1/claim`, { userId: `u${i % 25}`, templateId: t.id }, { 'x-request-id': `claim-${i}` });
    assert.ok(r.status === 200 || r.status === 409, `claim ${i}: ${r.status}`);
    assert.equal(r.headers['x-request-id'], undefined);
  }
  const batch = await http('POST', `${gw.url}/v1/claim/batch`, { userId: 'batch-user', templateIds: [t.id] });
  assert.equal(batch.status, 200);
  await http('GET', `${gw.url}/healthz`, undefined, { 'x-request-id': 'after-claims' });
  await linesOf('after-claims');
  const all = logRecords(gw.log());
  const between = all.slice(all.findIndex((r) => r.reqId === 'before-claims') + 1, all.findIndex((r) => r.reqId === 'after-claims'));
  assert.deepEqual(between, [], 'nothing logged by the claims');
});

test('an unexpected 500 logs method, path, request id and the stack', async () => {
  const t = await createTemplate(gw.url, { name: 'broken row', type: 'direct', value: 100, totalStock: 10 });
  // A row no API writes (a zero date, which the driver reads as an invalid Date): the admin
  // answer cannot show it, and fails outside any storage call.
  const conn = await s.mysql.main.getConnection();
  try {
    await conn.query("SET SESSION sql_mode = ''");
    await conn.query(`UPDATE ${mainDbName(s.cfg.mysql.dbPrefix)}.coupon_template SET created_at = '0000-00-00 00:00:00' WHERE id = ?`, [t.id]);
  } finally {
    conn.release();
  }
  const r = await http('GET', `${gw.url}/v1/admin/templates/${t.id}`, undefined, { ...ADMIN, 'x-request-id': 'broken-1' });
  assert.equal(r.status, 500, r.raw.toString());
  assert.deepEqual(r.json, { error: 'internal' });
  assert.equal(r.headers['x-request-id'], 'broken-1');
  const lines = await linesOf('broken-1');
  const failure = lines.find((l) => l.level === 'error');
  assert.ok(failure, JSON.stringify(lines));
  assert.deepEqual([failure.method, failure.path], ['GET', `/v1/admin/templates/${t.id}`]);
  const err = failure.err as { type: string; message: string; stack: string };
  assert.equal(err.type, 'RangeError');
  assert.match(err.stack, /RangeError: Invalid time value\n\s+at /);
  assert.equal(lines.find((l) => l.msg === 'request')!.status, 500);
});
