/** Start-up guards and graceful shutdown of the real gateway process. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { spawnEntry, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;

before(async () => { s = await openStorage(testConfig(env)); });
after(() => s?.close());

async function exitOf(extra: Record<string, string>): Promise<{ code: number | null; log: string }> {
  const p = spawnEntry('gateway/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', ...extra });
  const [code] = await once(p.child, 'exit');
  return { code: code as number | null, log: p.log() };
}

test('refuses the slow JS fallback of uWebSockets.js', async () => {
  const r = await exitOf({ UWS_USE_FALLBACK: '1' });
  assert.equal(r.code, 1);
  assert.match(r.log, /native binary did not load/);
});

test('refuses to start in production without an admin token', async () => {
  const r = await exitOf({ APP_ENV: 'production', ADMIN_TOKEN: '' });
  assert.equal(r.code, 1);
  assert.match(r.log, /ADMIN_TOKEN is required/);
});

test('refuses to start in production without a code secret', async () => {
  const r = await exitOf({ APP_ENV: 'production', ADMIN_TOKEN: 'a-production-admin-token', CODE_SECRET: '' });
  assert.equal(r.code, 1);
  assert.match(r.log, /CODE_SECRET is required/);
});

test('refuses a partition count or shard layout that differs from the data in Redis', async () => {
  const gw = await spawnGateway(env);
  await gw.stop();
  const r = await exitOf({ PARTITIONS: '8' });
  assert.equal(r.code, 1);
  assert.match(r.log, /PARTITIONS=8 but the data in Redis was laid out with 16/);
  const t = await exitOf({ SHARD_TABLES: '16' });
  assert.equal(t.code, 1);
  assert.match(t.log, /SHARD_TABLES=16 but the data in Redis was laid out with 4/);
});

test('SIGTERM: stops accepting, finishes the request in flight, exits 0', async () => {
  const gw = await spawnGateway({ ...env, SHUTDOWN_GRACE_MS: '60000' });
  const port0 = Number(new URL(gw.url).port);
  // A client that gave up half-way through its body is not in flight any more.
  const quitter = connect(port0, '127.0.0.1');
  await once(quitter, 'connect');
  quitter.write('POST /v1/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"us');
  await new Promise((r) => setTimeout(r, 50));
  quitter.destroy();
  const port = Number(new URL(gw.url).port);
  // A request whose body is only half sent is in flight until we send the rest.
  const sock = connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const body = JSON.stringify({ userId: 'u', templateId: 'missing-template' });
  sock.write(`POST /v1/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  sock.write(body.slice(0, 10));
  await new Promise((r) => setTimeout(r, 100));
  gw.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(gw.child.exitCode, null, 'exited before the in-flight request finished');
  // New connections are refused while it drains.
  const refused = await new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(false); });
    c.on('error', () => resolve(true));
  });
  assert.ok(refused, 'still accepting new connections while draining');
  let answer = '';
  sock.on('data', (b) => { answer += b.toString(); });
  sock.write(body.slice(10));
  const started = Date.now();
  const [code] = await once(gw.child, 'exit');
  // Waiting out the 60 s grace would mean the quitter above was still counted.
  assert.ok(Date.now() - started < 20_000, 'shutdown waited for a request whose client had left');
  assert.match(answer, /^HTTP\/1\.1 404/);
  assert.match(answer, /template_not_found/);
  assert.equal(code, 0);
  sock.destroy();
});

test('SIGTERM with SHUTDOWN_READY_DELAY_MS: /readyz turns 503 at once while requests are still served, then the listener closes', async () => {
  const gw = await spawnGateway({ ...env, SHUTDOWN_READY_DELAY_MS: '1500' });
  const get = async (path: string) => (await fetch(`${gw.url}${path}`)).status;
  assert.equal(await get('/readyz'), 200);
  const signalled = Date.now();
  gw.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await get('/readyz'), 503, 'not ready once draining');
  assert.equal(await get('/healthz'), 200, 'still serving');
  const claim = await fetch(`${gw.url}/v1/claim`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'u', templateId: 'missing-template' }) });
  assert.equal(claim.status, 404, 'claims still answered while the balancer catches up');
  const [code] = await once(gw.child, 'exit');
  assert.equal(code, 0);
  assert.ok(Date.now() - signalled >= 1500, 'the listener stayed open for the delay');
});
