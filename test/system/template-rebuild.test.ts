/**
 * `npm run rebuild` restores Redis from MySQL mid-campaign without breaking the brief's
 * invariants (section 4), with real gateway, sink and CLI processes: after Redis lost every
 * key, on a healthy Redis whose streams hold records MySQL does not have yet, and with no sink
 * at all (the rebuild gives up and puts the stock back exactly). The steps in detail:
 * template-rebuild-steps.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { frozenStockKey, stockKey } from '../../lua/keys.ts';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { countRows, keySpace, waitFor, waitForRows } from '../support/sink-fixtures.ts';
import { deleteKeys, openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const STOCK = 400;
const LIMIT = 2;
const USERS = Array.from({ length: 300 }, (_, i) => `u${i}`);

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

interface Rig { env: Record<string, string>; s: Storage; gw: GatewayProc }

/** A gateway on a prefix of its own (the sink, if any, is started by the test). */
async function rig(): Promise<Rig> {
  const env = testEnv({ CLAIM_PENDING_WAIT_MS: '2000' });
  const s = await openStorage(testConfig(env));
  cleanup.push(() => s.close());
  const gw = await spawnGateway(env);
  cleanup.push(() => gw.stop());
  return { env, s, gw };
}

function startSink(env: Record<string, string>, extra: Record<string, string> = {}): Proc {
  const sink = spawnEntry('sink/main.ts', { ...env, ...extra });
  cleanup.push(() => sink.stop());
  return sink;
}

interface Cli { output: () => string; done: Promise<number | null> }

/** Runs the real command, `npm run rebuild -- ...args`, with the test's environment. */
function rebuild(env: Record<string, string>, args: string[]): Cli {
  const child = spawn('npm', ['run', '--silent', 'rebuild', '--', ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  cleanup.push(async () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { output: () => out, done };
}

/** Resolves with `p`, or fails with `what` after `ms` (the timer never outlives the test). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Sent { userId: string; requestId?: string; status: number; couponId?: string }

/**
 * Claims keep coming from `workers` concurrent clients until each has been told sold_out: many
 * users, a third retrying one of two request ids, a third without one, every tenth a double
 * click. From `slowFrom` coupons on, each client pauses 200 ms between claims until `fast()`.
 */
function claimsUntilSoldOut(url: string, templateId: string, workers: number, slowFrom = Infinity) {
  const sent: Sent[] = [];
  const coupons = new Set<string>();
  let n = 0;
  let slow = true;
  const worker = async () => {
    for (;;) {
      const i = n++;
      const userId = USERS[(i * 7919) % USERS.length]!;
      const requestId = i % 3 === 0 ? `r-${userId}-${i % 2}` : i % 3 === 1 ? undefined : `f${i}`;
      const body = { userId, templateId, ...(requestId ? { requestId } : {}) };
      const copies = i % 10 === 0 ? 2 : 1;
      const rs = await Promise.all(Array.from({ length: copies }, () => http('POST', `${url}/v1/claim`, body)));
      for (const r of rs) {
        sent.push({ userId, requestId, status: r.status, couponId: r.status === 200 ? r.json.couponId : undefined });
        if (r.status === 200) coupons.add(r.json.couponId);
      }
      if (rs.some((r) => r.status === 410)) return;
      if (slow && coupons.size >= slowFrom) await sleep(200);
      else if (rs.some((r) => r.status === 503)) await sleep(20); // frozen or lost stock: back off a little
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  return { sent, done, issued: () => coupons.size, fast: () => { slow = false; } };
}

/** The brief's invariants at the end of a campaign, checked in MySQL, Redis and the answers given. */
async function assertInvariants(r: Rig, templateId: string, sent: Sent[]): Promise<void> {
  const statuses = [...new Set(sent.map((x) => x.status))];
  assert.deepEqual(statuses.filter((c) => ![200, 409, 410, 503].includes(c)), [], `statuses ${statuses}`);
  const issued = new Map<string, string>();
  for (const x of sent) if (x.status === 200) issued.set(x.couponId!, x.userId);
  assert.ok(issued.size <= STOCK, `over-issue: ${issued.size} coupons answered for a stock of ${STOCK}`);

  // Idempotency: one request id, one coupon, and never a refusal once it had one.
  const byRequest = new Map<string, Set<string>>();
  for (const x of sent) {
    if (x.requestId === undefined || x.status === 503) continue;
    const k = `${x.userId}|${x.requestId}`;
    if (!byRequest.has(k)) byRequest.set(k, new Set());
    byRequest.get(k)!.add(x.couponId ?? `status ${x.status}`);
  }
  for (const [k, answers] of byRequest) {
    if ([...answers].some((a) => !a.startsWith('status'))) assert.equal(answers.size, 1, `${k} answered ${[...answers]}`);
  }

  // Nothing lost, nothing extra: MySQL holds exactly the coupons answered "issued", once each.
  await waitFor(() => drained(r.s), 20_000, 'the sink to drain');
  const rows = await waitForRows(r.s, templateId, issued.size);
  assert.equal(rows.length, new Set(rows.map((x) => x.coupon_id)).size, 'a coupon id twice in MySQL');
  assert.deepEqual(new Set(rows.map((x) => x.coupon_id)), new Set(issued.keys()), 'MySQL rows != coupons answered issued');
  assert.equal(await countRows(r.s), rows.length, 'MySQL holds rows of no other claim');
  assert.ok(rows.length <= STOCK);

  const perUser = new Map<string, number>();
  for (const x of rows) perUser.set(x.user_id, (perUser.get(x.user_id) ?? 0) + 1);
  const over = [...perUser].filter(([, c]) => c > LIMIT);
  assert.deepEqual(over, [], 'users above the per-user limit in MySQL');

  // No leaked stock: what MySQL holds plus what Redis still has is the total.
  const view = await http('GET', `${r.gw.url}/v1/admin/templates/${templateId}`, undefined, ADMIN);
  assert.equal(view.status, 200, view.raw.toString());
  assert.equal(rows.length + view.json.stock.remaining, STOCK, `issued ${rows.length} + remaining ${view.json.stock.remaining}`);
  assert.equal(view.json.stock.remaining, 0, 'claims sold the template out');

  // Replays of every request that got a coupon, old and new, return that coupon.
  for (const [k, answers] of byRequest) {
    const coupon = [...answers].find((a) => !a.startsWith('status'));
    if (coupon === undefined) continue;
    const [userId, requestId] = k.split('|');
    const again = await http('POST', `${r.gw.url}/v1/claim`, { userId, templateId, requestId });
    assert.equal(again.status, 200, `replay of ${k}: ${again.raw.toString()}`);
    assert.equal(again.json.couponId, coupon, `replay of ${k}`);
  }
}

test('Redis loses every key mid-campaign: the rebuild restores it, claims sell out, every invariant holds', async () => {
  const r = await rig();
  startSink(r.env);
  const tpl = await createTemplate(r.gw.url, { name: 'lost', type: 'direct', value: 100, totalStock: STOCK, perUserLimit: LIMIT, subStocks: 4 });
  const claims = claimsUntilSoldOut(r.gw.url, tpl.id, 16);
  await waitFor(async () => claims.issued() >= 150, 20_000, '150 coupons issued');

  // The loss: stock keys first, so that no answered claim's record is lost with the streams
  // (a Redis loss that drops undrained records loses those claims: the AOF window, docs/durability.md).
  const prefix = r.s.cfg.redis.keyPrefix;
  await deleteKeys(r.s.redis, `${prefix}:*:stock:*`);
  await waitFor(() => drained(r.s), 20_000, 'the sink to write what was issued');
  await deleteKeys(r.s.redis, `${prefix}:*`);
  await sleep(300); // claims keep coming and find no stock
  const issuedBefore = claims.issued();
  assert.ok(issuedBefore < STOCK, 'the loss happens mid-campaign');

  const cli = rebuild(r.env, ['--all']);
  const code = await cli.done;
  assert.equal(code, 0, cli.output());
  // MySQL's count is every coupon answered before the loss: nothing issued without stock keys.
  assert.match(cli.output(), new RegExp(`${tpl.id}\\s+${STOCK}\\s+${issuedBefore}\\s+0\\s+${STOCK - issuedBefore}\\s.*rebuilt`));

  await within(claims.done, 30_000, 'claims to sell out');
  await assertInvariants(r, tpl.id, claims.sent);
});

test('a rebuild on a healthy Redis waits for records still in the streams (sink behind)', async () => {
  const r = await rig();
  const tpl = await createTemplate(r.gw.url, { name: 'behind', type: 'direct', value: 100, totalStock: STOCK, perUserLimit: LIMIT, subStocks: 4 });
  // Slower from 150 coupons on while the CLI starts, so the campaign is still selling when it freezes.
  const claims = claimsUntilSoldOut(r.gw.url, tpl.id, 8, 150);
  await waitFor(async () => claims.issued() >= 150, 20_000, '150 coupons issued');

  // No sink yet: every record waits in the streams, MySQL has none of them.
  const answeredBefore = claims.issued();
  const cli = rebuild(r.env, ['--template', tpl.id, '--drain-timeout-ms', '20000']);
  await waitFor(async () => /frozen/.test(cli.output()), 20_000, 'the freeze');
  claims.fast();
  assert.equal(await countRows(r.s), 0, 'records wait in the streams, not in MySQL');
  await sleep(500);
  // A sink that holds each batch for a second: records stay pending before they are written.
  startSink(r.env, { SINK_BATCH_MAX_WAIT_MS: '1000', SINK_BATCH_MAX_ROWS: '10000' });
  const code = await cli.done;
  assert.equal(code, 0, cli.output());
  const row = new RegExp(`${tpl.id}\\s+${STOCK}\\s+(\\d+)\\s+0\\s+(\\d+)\\s.*rebuilt`).exec(cli.output());
  assert.ok(row, cli.output());
  const counted = Number(row[1]);
  assert.ok(counted >= answeredBefore, `the rebuild counted ${counted}, but ${answeredBefore} were issued before it started`);
  assert.ok(counted < STOCK, 'the rebuild ran mid-campaign');
  assert.equal(Number(row[2]), STOCK - counted);

  await within(claims.done, 30_000, 'claims to sell out');
  await assertInvariants(r, tpl.id, claims.sent);
});

test('with no sink the rebuild times out, puts the stock back exactly and exits non-zero', async () => {
  const r = await rig();
  const tpl = await createTemplate(r.gw.url, { name: 'nosink', type: 'direct', value: 100, totalStock: 50, subStocks: 3 });
  for (let i = 0; i < 20; i++) {
    const c = await http('POST', `${r.gw.url}/v1/claim`, { userId: `n${i}`, templateId: tpl.id, requestId: `q${i}` });
    assert.equal(c.status, 200);
  }
  const ks = keySpace(r.s.cfg);
  const stocks = () => Promise.all([0, 1, 2].map((k) => r.s.redis.get(stockKey(ks, tpl.id, k))));
  const before = await stocks();
  assert.equal(before.reduce((a, v) => a + Number(v), 0), 30);

  const cli = rebuild(r.env, ['--template', tpl.id, '--drain-timeout-ms', '1000']);
  const code = await cli.done;
  assert.equal(code, 1, cli.output());
  assert.match(cli.output(), /the sink is not draining.*start it and run rebuild again/);
  assert.match(cli.output(), /no consumer group/);
  assert.deepEqual(await stocks(), before, 'the frozen stock is back exactly');
  for (let k = 0; k < 3; k++) assert.equal(await r.s.redis.exists(frozenStockKey(ks, tpl.id, k)), 0);

  const replay = await http('POST', `${r.gw.url}/v1/claim`, { userId: 'n0', templateId: tpl.id, requestId: 'q0' });
  assert.equal(replay.json.replayed, true);
  const fresh = await http('POST', `${r.gw.url}/v1/claim`, { userId: 'after', templateId: tpl.id });
  assert.equal(fresh.status, 200, 'claims work again');
});
