/**
 * Redemption codes through the real gateway process: batches created idempotently and
 * downloaded as a stream (a million codes, written only as fast as the client reads), codes
 * redeemed over HTTP and counted in the template's stats, and invalid codes refused with Redis
 * and MySQL both unreachable: the MAC alone decides, before any storage call.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CodeSigner } from '../../redemption/code-mac.ts';
import { cpuSeconds } from '../../tools/harness/cpu.ts';
import { startCuttingProxy } from '../../tools/harness/cutting-proxy.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';

const env = testEnv({ STATS_FLUSH_MS: '100' });
let st: Stack;
let signer: CodeSigner;
before(async () => {
  st = await openStack(env);
  signer = new CodeSigner(st.s.cfg.codes.secret);
});
after(() => st?.close());

const url = () => st.gw.url;
const newBatch = (templateId: string, body: Record<string, unknown>, headers = ADMIN) =>
  http('POST', `${url()}/v1/admin/templates/${templateId}/codes`, body, headers);

/** GET a batch's codes, read whole; the lines. */
async function download(batchId: string): Promise<{ status: number; type: string | undefined; length: string | undefined; lines: string[] }> {
  return new Promise((resolve, reject) => {
    request(`${url()}/v1/admin/code-batches/${batchId}/codes`, { headers: ADMIN }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], length: res.headers['content-length'],
          lines: text === '' ? [] : text.replace(/\n$/, '').split('\n') });
      });
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

test('a batch is created once per batchId; a different one conflicts; bad requests are refused', async () => {
  const t = await createTemplate(url(), { name: 'codes', type: 'direct', value: 100, totalStock: 100 });
  const first = await newBatch(t.id, { count: 5, batchId: 'spring-1' });
  assert.deepEqual([first.status, first.json], [201, { batchId: 'spring-1', count: 5 }]);
  assert.deepEqual([(await newBatch(t.id, { count: 5, batchId: 'spring-1' })).status, (await newBatch(t.id, { count: 5, batchId: 'spring-1' })).json],
    [201, { batchId: 'spring-1', count: 5 }]);
  const conflict = await newBatch(t.id, { count: 6, batchId: 'spring-1' });
  assert.deepEqual([conflict.status, conflict.json.error], [409, 'batch_conflict']);
  // Ids are bytes: another case is another batch.
  assert.equal((await newBatch(t.id, { count: 5, batchId: 'Spring-1' })).status, 201);
  const generated = await newBatch(t.id, { count: 2 });
  assert.equal(generated.status, 201);
  assert.match(generated.json.batchId, /^batch-[A-Za-z0-9_-]+$/);
  for (const [body, message] of [[{}, /count: is required/], [{ count: 0 }, /count: must be between 1 and 1000000/],
    [{ count: 1_000_001 }, /count/], [{ count: '5' }, /count: must be an integer/], [{ count: 5, batchId: 'a b' }, /batchId/],
    [{ count: 5, extra: 1 }, /extra: unknown field/]] as const) {
    const r = await newBatch(t.id, body);
    assert.deepEqual([r.status, r.json.error], [400, 'bad_request'], JSON.stringify(body));
    assert.match(r.json.message, message);
  }
  assert.deepEqual([(await newBatch('no-such-template', { count: 1 })).status, (await newBatch('no-such-template', { count: 1 })).json.error],
    [404, 'template_not_found']);
  assert.equal((await newBatch(t.id, { count: 1 }, { authorization: 'Bearer wrong-token-123' })).status, 401);
  const text = await http('POST', `${url()}/v1/admin/templates/${t.id}/codes`, 'count=1', { ...ADMIN, 'content-type': 'text/plain' });
  assert.equal(text.status, 415);
  const missing = await http('GET', `${url()}/v1/admin/code-batches/nope/codes`, undefined, ADMIN);
  assert.deepEqual([missing.status, missing.json.error], [404, 'not_found']);
  assert.equal((await http('GET', `${url()}/v1/admin/code-batches/spring-1/codes`)).status, 401);  // a red packet's codes would issue packets without an amount, outside its budget: refused
  const packet = await createTemplate(url(), { name: 'packet', type: 'red_packet', budget: 1000, totalStock: 10 });
  const refused = await newBatch(packet.id, { count: 1 });
  assert.deepEqual([refused.status, refused.json.error], [400, 'bad_request']);
  assert.match(refused.json.message, /red_packet/);
});

test('a million codes stream as text, one a line, all distinct and valid; claims are served meanwhile', async () => {
  const t = await createTemplate(url(), { name: 'big', type: 'direct', value: 100, totalStock: 10 });
  const { json } = await newBatch(t.id, { count: 1_000_000, batchId: 'million' });
  const started = Date.now();
  const pending = download(json.batchId);
  // While the gateway makes the codes, a claim still gets its answer at once.
  await sleep(200);
  const c0 = performance.now();
  const claim = await http('POST', `${url()}/v1/claim`, { userId: 'during', templateId: t.id });
  const claimMs = performance.now() - c0;
  assert.equal(claim.status, 200);
  const r = await pending;
  assert.ok(Date.now() - started > 500, 'the claim was sent while the download ran');
  assert.ok(claimMs < 250, `a claim took ${claimMs.toFixed(0)} ms during the download`);
  assert.deepEqual([r.status, r.type, r.length], [200, 'text/plain; charset=utf-8', String(25 * 1_000_000)]);
  assert.equal(r.lines.length, 1_000_000);
  assert.equal(new Set(r.lines).size, 1_000_000);
  for (let i = 0; i < r.lines.length; i += 97) assert.notEqual(signer.verify(r.lines[i]!), undefined, r.lines[i]);
  assert.ok(r.lines.every((l) => /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/.test(l)));
});

test('a client that does not read holds the download: the gateway stops making codes until it reads', async () => {
  const t = await createTemplate(url(), { name: 'slow', type: 'direct', value: 100, totalStock: 10 });
  const { json } = await newBatch(t.id, { count: 1_000_000 });
  const sock = connect(Number(new URL(url()).port), '127.0.0.1');
  await once(sock, 'connect');
  sock.pause();
  sock.write(`GET /v1/admin/code-batches/${json.batchId}/codes HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN.authorization}\r\n\r\n`);
  // The socket buffers fill within a moment; then a stalled download costs no CPU.
  await sleep(1000);
  const pid = st.gw.child.pid!;
  const cpu0 = cpuSeconds(pid);
  await sleep(2000);
  const spent = cpuSeconds(pid) - cpu0;
  assert.ok(spent < 0.5, `the gateway spent ${spent.toFixed(2)} s of CPU on a download nobody reads (making all codes takes ~7 s)`);
  sock.destroy();
  await sleep(200);
  assert.equal((await http('GET', `${url()}/healthz`)).status, 200);
});

test('a code redeems over HTTP, replays for its user, is used for others; the stats count it', async () => {
  const t = await createTemplate(url(), { name: 'redeem', type: 'direct', value: 100, totalStock: 10, perUserLimit: 2 });
  const { json } = await newBatch(t.id, { count: 3 });
  const [code] = (await download(json.batchId)).lines;
  const r = await http('POST', `${url()}/v1/redeem`, { userId: 'alice', code });
  assert.equal(r.status, 200);
  assert.deepEqual([r.json.status, r.json.templateId, r.json.userId], ['issued', t.id, 'alice']);
  const again = await http('POST', `${url()}/v1/redeem`, { userId: 'alice', code: code!.toLowerCase() });
  assert.deepEqual(again.json, { ...r.json, replayed: true });
  const used = await http('POST', `${url()}/v1/redeem`, { userId: 'bob', code });
  assert.deepEqual([used.status, used.json], [409, { status: 'code_used' }]);
  const wrong = await http('POST', `${url()}/v1/redeem`, { userId: 'bob', code: '0000-0000-0000-0000-0000' });
  assert.deepEqual([wrong.status, wrong.json], [404, { error: 'invalid_code' }]);
  // The coupon is the user's like any other, in their listing once the sink wrote it.
  let listed: any[] = [];
  for (let i = 0; i < 100 && listed.length === 0; i++) {
    listed = (await http('GET', `${url()}/v1/users/alice/coupons`)).json.coupons.filter((c: any) => c.templateId === t.id);
    if (listed.length === 0) await sleep(50);
  }
  assert.deepEqual(listed.map((c) => c.couponId), [r.json.couponId]);
  // Stats: three redemptions of a known template, one issued, one code_used (the replay is a claim, not an issue).
  let stats: any;
  for (let i = 0; i < 60; i++) {
    stats = (await http('GET', `${url()}/v1/admin/templates/${t.id}/stats`, undefined, ADMIN)).json;
    if (stats.rejected.code_used === 1) break;
    await sleep(50);
  }
  assert.equal(stats.issued, 1);
  assert.equal(stats.rejected.code_used, 1);
});

test('invalid codes are refused with Redis and MySQL both unreachable (no storage call); then the budget: 429, earned back', async () => {
  const env2 = testEnv({ REDEEM_FAILURE_BURST: '3', REDEEM_FAILURES_PER_MINUTE: '600' });
  const s2: Storage = await openStorage(testConfig(env2));
  const redisUrl = new URL(s2.cfg.redis.url);
  const mysqlUrl = new URL(s2.cfg.mysql.url);
  const redisProxy = await startCuttingProxy(redisUrl.hostname, Number(redisUrl.port));
  const mysqlProxy = await startCuttingProxy(mysqlUrl.hostname, Number(mysqlUrl.port));
  let gw: GatewayProc | undefined;
  try {
    gw = await spawnGateway({ ...env2, REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`, MYSQL_URL: `mysql://root@127.0.0.1:${mysqlProxy.port}` });
    const t = await createTemplate(gw.url, { name: 'cut', type: 'direct', value: 100, totalStock: 10 });
    const { json } = await http('POST', `${gw.url}/v1/admin/templates/${t.id}/codes`, { count: 1 }, ADMIN);
    const batch = (await http('GET', `${gw.url}/v1/admin/code-batches/${json.batchId}/codes`, undefined, ADMIN)).raw.toString();
    const good = batch.trim();
    redisProxy.setDown(true);
    mysqlProxy.setDown(true);
    const redeem = (userId: string, code: string) => http('POST', `${gw!.url}/v1/redeem`, { userId, code });
    // A valid code needs storage, and the storage is gone: 503.
    const needsStorage = await redeem('u1', good);
    assert.deepEqual([needsStorage.status, needsStorage.json.error], [503, 'unavailable']);
    const forged = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
    for (const [userId, code] of [['u2', forged], ['u3', 'ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ'], ['u4', 'hello']]) {
      const t0 = performance.now();
      const r = await redeem(userId!, code!);
      assert.deepEqual([r.status, r.json], [404, { error: 'invalid_code' }], code);
      assert.ok(performance.now() - t0 < 100, 'answered at once, from memory');
    }
    // Three failures from this address (the test's 127.0.0.1): the fourth request waits, whatever its user.
    const slowed = await redeem('u5', forged);
    assert.deepEqual([slowed.status, slowed.json.error, slowed.headers['retry-after']], [429, 'too_many_failures', '1']);
    await sleep(150);
    assert.equal((await redeem('u6', forged)).status, 404, 'one failure earned back after 100 ms');
  } finally {
    redisProxy.setDown(false);
    mysqlProxy.setDown(false);
    await gw?.stop('SIGKILL');
    await redisProxy.close();
    await mysqlProxy.close();
    await s2.close();
  }
});

test('downloads cut off mid-stream beside whole ones at once: the gateway lives on, every whole download is exact', async () => {
  const t = await createTemplate(url(), { name: 'cut', type: 'direct', value: 100, totalStock: 10 });
  const { json } = await newBatch(t.id, { count: 200_000, batchId: 'cut-200k' });
  /** A download its client abandons after its first bytes. */
  const abandoned = () => new Promise<void>((resolve, reject) => {
    const req = request(`${url()}/v1/admin/code-batches/${json.batchId}/codes`, { headers: ADMIN }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve() : reject(e))).end();
  });
  const [a, , b, , c] = await Promise.all([download(json.batchId), abandoned(), download(json.batchId), abandoned(), download(json.batchId)]);
  for (const r of [a, b, c]) assert.deepEqual([r!.status, r!.lines.length], [200, 200_000]);
  assert.deepEqual(b!.lines, a!.lines);
  assert.deepEqual(c!.lines, a!.lines);
  assert.equal(new Set(a!.lines).size, 200_000);
  assert.equal((await http('GET', `${url()}/healthz`)).status, 200);
  assert.equal((await download(json.batchId)).lines.length, 200_000, 'and serves the next one whole');
});
