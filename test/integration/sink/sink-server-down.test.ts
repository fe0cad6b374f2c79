/**
 * A MySQL server down while another answers (issue 15). The shard databases of the second
 * "server" reach the real MariaDB through a TCP relay that the test closes and reopens, so their
 * connections fail for real (cut, then refused) while shard database 0 and the main database
 * keep their own connections: shard 0 must keep being written, the sink must not hold the down
 * server's records in memory, and they must land soon after it answers, exactly once.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pack } from 'msgpackr';
import { deadKey, streamKey } from '../../../lua/keys.ts';
import { createLog } from '../../../sink/log.ts';
import { couponIdPrefix, shardDbName, shardOfUser, shardTableName } from '../../../core/shards.ts';
import { startSink } from '../../../sink/sink.ts';
import { couponRows, insertTemplate, type Issued, keySpace, layout, produceClaims, waitFor } from '../../support/sink-fixtures.ts';
import { drained, openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

/** Forwards a local port to a MySQL server; close() cuts open connections and refuses new ones. */
class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: URL) {}

  /** Listens (on the port it had before, once it had one). */
  async open(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(this.target.port), this.target.hostname);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => { this.sockets.delete(a); b.destroy(); });
      }
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every open connection: the "server" is gone. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const template = { id: 'tpl-down', name: 'down', type: 'direct', value: 100, threshold: null, maxDiscount: null,
  subStocks: 4, validDays: 7 } as const;

/**
 * Storage whose shard servers are [MYSQL_URL, the relay] (`second`), the relay alone (`only`),
 * or [the relay, MYSQL_URL] with the main database behind the relay too (`main`).
 */
async function relayedStorage(relay: Relay, behind: 'second' | 'only' | 'main', extra: Record<string, string> = {}): Promise<Storage> {
  const base = testConfig().mysql.url;
  const relayed = new URL(base);
  relayed.host = `127.0.0.1:${relay.port}`;
  const urls = { second: [base, relayed.href], only: [relayed.href], main: [relayed.href, base] }[behind];
  return openStorage(testConfig({
    ...(behind === 'main' ? { MYSQL_URL: relayed.href } : {}),
    MYSQL_SHARD_URLS: urls.join(','),
    // small batches: many of them in flight while the server is down, as under load.
    SINK_BATCH_MAX_ROWS: '25', SINK_BATCH_MAX_WAIT_MS: '20', SINK_RETRY_MAX_MS: '500', ...extra,
  }));
}

/** Claims for `users` in waves of 25, a little apart, so they reach the sink as many batches. */
async function claimWaves(st: Storage, users: readonly string[], templateId: string = template.id): Promise<Issued[]> {
  const out: Issued[] = [];
  for (let i = 0; i < users.length; i += 25) {
    out.push(...await produceClaims(st, templateId, users.slice(i, i + 25), template.subStocks));
    await sleep(30);
  }
  return out;
}

/** Coupon ids stored in shard database `db` (0 by default: on the server that stays up). */
async function shardIds(st: Storage, db = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let t = 0; t < st.cfg.mysql.shardTables; t++) {
    const [rows] = await st.mysql.forDb(db).query(
      `SELECT coupon_id FROM \`${shardDbName(st.cfg.mysql.dbPrefix, db)}\`.\`${shardTableName(t)}\``);
    ids.push(...(rows as { coupon_id: string }[]).map((r) => r.coupon_id));
  }
  return ids.sort();
}

test('a shard server down: the other server keeps being written, nothing is held, the rest lands once it answers, exactly once', async () => {
  const relay = new Relay(new URL(testConfig().mysql.url));
  await relay.open();
  const st = await relayedStorage(relay, 'second');
  const lines: string[] = [];
  // its own pools (not the storage's): the sink meets the outage on its own connections.
  const sink = await startSink(st.cfg, { redis: st.redis, log: createLog((l) => lines.push(l), 0) });
  try {
    await insertTemplate(st, template);
    await produceClaims(st, template.id, ['warm'], template.subStocks);
    await waitFor(() => drained(st), 10_000, 'the first record');

    await relay.close();
    const issued = await claimWaves(st, Array.from({ length: 300 }, (_, i) => `u${i}`));
    // one entry whose records span both servers: acked only once both are stored.
    const dbOf = (u: string) => shardOfUser(layout(st.cfg), u).db;
    const pair = [0, 1].map((db) => { let i = 0; while (dbOf(`m${i}`) !== db) i++; return `m${i}`; });
    const mixed = pair.map((userId, i) => ({ couponId: `${couponIdPrefix(layout(st.cfg), userId)}.0.${9_000_000 + i}`, userId,
      requestId: `r-${userId}`, templateId: template.id }));
    const mixedId = (await st.redis.xadd(streamKey(keySpace(st.cfg), 0), '*', 'd',
      pack([2, template.id, Date.now(), 0, ...mixed.flatMap((x) => [x.couponId, x.userId, x.requestId])])))!;
    const all = [...issued, ...mixed];
    const want0 = all.filter((x) => dbOf(x.userId) === 0).map((x) => x.couponId);
    assert.ok(want0.length > 50 && all.length - want0.length > 50, `records on both servers: ${want0.length} of ${all.length}`);

    const started = Date.now();
    const stored0 = async () => (await shardIds(st)).filter((id) => want0.includes(id));
    await waitFor(async () => (await stored0()).length === want0.length, 5_000, 'shard 0 rows while server 1 is down');
    const landedMs = Date.now() - started;
    assert.deepEqual(await stored0(), want0.sort(), 'every shard 0 record stored');
    // the down server's records wait in the streams, not in the sink's memory.
    await waitFor(async () => sink.stats().held === 0, 2_000, 'the sink to hold nothing');
    const during = sink.stats();
    assert.equal(during.serversDown, 1);
    assert.ok(during.unreachable >= all.length - want0.length, `records kept for the down server: ${during.unreachable}`);
    assert.equal(during.deadLettered, 0);
    assert.equal(await drained(st), false, 'server 1 records still pending');
    const [pendingMixed] = await st.redis.xpending(streamKey(keySpace(st.cfg), 0), st.cfg.redis.streamGroup, mixedId, mixedId, 1) as unknown[];
    assert.ok(pendingMixed, 'the entry spanning both servers is not acknowledged while one is down');
    assert.ok(lines.some((l) => l.includes('MySQL server 1 is unreachable')), 'the outage is logged');

    await relay.open();
    const back = Date.now();
    // well before SINK_RECLAIM_IDLE_MS (30 s): the sink re-reads its own pending entries itself.
    await waitFor(() => drained(st), 5_000, 'server 1 records to land after it answers');
    console.log(`shard 0 stored ${landedMs} ms after the claims; the rest ${Date.now() - back} ms after the server returned`);
    const rows = (await couponRows(st)).filter((r) => r.user_id !== 'warm');
    const ids = rows.map((r) => r.coupon_id).sort();
    assert.equal(new Set(ids).size, ids.length, 'no coupon stored twice');
    assert.deepEqual(ids, all.map((x) => x.couponId).sort(), 'exactly the issued coupons');
    assert.equal(sink.stats().serversDown, 0);
    let dead = 0;
    for (let p = 0; p < st.cfg.redis.partitions; p++) dead += await st.redis.xlen(deadKey(keySpace(st.cfg), p));
    assert.equal(dead, 0, 'nothing dead-lettered because of the outage');
  } finally {
    await relay.open();
    await sink.stop();
    await st.close();
    await relay.close();
  }
});

test('every shard on one server: a failure is retried in place, as before, and everything lands once it answers', async () => {
  const relay = new Relay(new URL(testConfig().mysql.url));
  await relay.open();
  const st = await relayedStorage(relay, 'only');
  const sink = await startSink(st.cfg, { redis: st.redis, log: createLog(() => {}, 0) });
  try {
    await insertTemplate(st, template);
    await relay.close();
    const issued = await claimWaves(st, Array.from({ length: 100 }, (_, i) => `s${i}`));
    await sleep(1_000);
    const during = sink.stats();
    assert.equal(during.serversDown, 0, 'nothing else to keep flowing: no server is set aside');
    assert.equal(during.unreachable, 0);
    assert.ok(during.inFlight > 0 && during.held > 0, `the batches wait in place: ${JSON.stringify(during)}`);
    await relay.open();
    await waitFor(() => drained(st), 10_000, 'every record to land after the server answers');
    const ids = (await couponRows(st)).map((r) => r.coupon_id).sort();
    assert.deepEqual(ids, issued.map((x) => x.couponId).sort());
  } finally {
    await relay.open();
    await sink.stop();
    await st.close();
    await relay.close();
  }
});

test('the main server down: cached templates keep the other server written; records of a template not cached wait, never dead-lettered', async () => {
  const relay = new Relay(new URL(testConfig().mysql.url));
  await relay.open();
  // a record whose template row is missing this long is dead-lettered: the outage lasts longer,
  // and the records are reclaimed (so seen again) several times during it.
  const st = await relayedStorage(relay, 'main', { SINK_TEMPLATE_WAIT_MS: '1000', SINK_RECLAIM_IDLE_MS: '300', SINK_RECLAIM_EVERY_MS: '100' });
  const sink = await startSink(st.cfg, { redis: st.redis, log: createLog(() => {}, 0) });
  try {
    await insertTemplate(st, template);
    await insertTemplate(st, { ...template, id: 'tpl-new' });
    await produceClaims(st, template.id, ['warm'], template.subStocks);
    await waitFor(() => drained(st), 10_000, 'the first record (its template cached)');

    await relay.close();
    const cached = await claimWaves(st, Array.from({ length: 150 }, (_, i) => `c${i}`));
    const fresh = await claimWaves(st, Array.from({ length: 50 }, (_, i) => `f${i}`), 'tpl-new');
    const dbOf = (u: string) => shardOfUser(layout(st.cfg), u).db;
    const want1 = cached.filter((x) => dbOf(x.userId) === 1).map((x) => x.couponId).sort();
    const stored1 = async () => (await shardIds(st, 1)).filter((id) => want1.includes(id));
    await waitFor(async () => (await stored1()).length === want1.length, 5_000, 'shard 1 rows of the cached template');
    await sleep(1_500);
    const ids1 = await shardIds(st, 1);
    assert.ok(fresh.every((x) => !ids1.includes(x.couponId)), 'a template that cannot be read is not written');
    const during = sink.stats();
    assert.equal(during.serversDown, 1);
    assert.equal(during.deadLettered, 0, 'nothing dead-lettered for a template it could not read');

    await relay.open();
    await waitFor(() => drained(st), 5_000, 'every record to land after the main server answers');
    const ids = (await couponRows(st)).filter((r) => r.user_id !== 'warm').map((r) => r.coupon_id).sort();
    assert.deepEqual(ids, [...cached, ...fresh].map((x) => x.couponId).sort());
    assert.equal(sink.stats().deadLettered, 0);
  } finally {
    await relay.open();
    await sink.stop();
    await st.close();
    await relay.close();
  }
});
