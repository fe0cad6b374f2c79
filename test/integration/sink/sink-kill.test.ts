/**
 * Crash and shutdown drills with real sink processes: a sink killed with SIGKILL while it holds
 * a batch loses nothing (a second sink reclaims its pending entries); SIGTERM writes what is
 * held before exiting; trimming never removes an entry that is still pending.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../../config/index.ts';
import { streamKey, subStockPartition } from '../../../lua/keys.ts';
import { createLog } from '../../../sink/log.ts';
import { startSink } from '../../../sink/sink.ts';
import { countRows, couponRows, insertTemplate, type Issued, keySpace, pendingTotal, produceClaims, sinkEnv, waitFor } from '../../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, drained } from '../../../tools/harness/storage.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const template = { id: 'tpl-k', name: '5 off', type: 'direct', value: 500, threshold: null, maxDiscount: null,
  subStocks: 4, validDays: 30 } as const;

/** A sink process that holds everything it reads: huge batches, a minute of waiting. */
function spawnHoldingSink(cfg: Config, consumer: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'sink/main.ts'], {
    cwd: root,
    env: sinkEnv(cfg, {
      SINK_CONSUMER: consumer,
      SINK_BATCH_MAX_WAIT_MS: '60000',
      SINK_BATCH_MAX_ROWS: '10000',
      SINK_RECLAIM_IDLE_MS: '3600000',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  return { child, output: () => out };
}

/** Pending entries per consumer name, over all partitions (the group exists by then). */
async function pendingByConsumer(st: Storage): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (let p = 0; p < st.cfg.redis.partitions; p++) {
    const [, , , consumers] = await st.redis.xpending(streamKey(keySpace(st.cfg), p), st.cfg.redis.streamGroup) as
      [number, string | null, string | null, [string, string][] | null];
    for (const [name, n] of consumers ?? []) m.set(name, (m.get(name) ?? 0) + Number(n));
  }
  return m;
}

async function assertExactlyOnce(st: Storage, issued: readonly Issued[]): Promise<void> {
  const rows = await couponRows(st);
  const ids = rows.map((r) => r.coupon_id).sort();
  assert.equal(new Set(ids).size, ids.length, 'no coupon id twice');
  assert.deepEqual(ids, issued.map((x) => x.couponId).sort(), 'MySQL holds exactly the issued coupons');
}

test('a sink killed mid-batch loses nothing: another sink reclaims its pending entries', async () => {
  const cfg = testConfig({
    SINK_CONSUMER: 'rescuer', SINK_RECLAIM_IDLE_MS: '500', SINK_RECLAIM_EVERY_MS: '100', SINK_BATCH_MAX_WAIT_MS: '50',
  });
  const st = await openStorage(cfg);
  const { child, output } = spawnHoldingSink(cfg, 'victim');
  let rescuer: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    await insertTemplate(st, template);
    const issued = await produceClaims(st, template.id, Array.from({ length: 3000 }, (_, i) => `k-${i}`), template.subStocks);

    // mid-batch: every record delivered to the victim, none acknowledged, none written
    await waitFor(async () => (await pendingTotal(st)) === issued.length, 20_000, 'the victim to hold every record');
    assert.deepEqual([...await pendingByConsumer(st)], [['victim', issued.length]]);
    assert.equal(await countRows(st), 0, 'the victim has written nothing yet');

    child.kill('SIGKILL');
    const [, signal] = await once(child, 'exit') as [number | null, string | null];
    assert.equal(signal, 'SIGKILL');
    assert.ok(await pendingTotal(st) > 0, 'the dead consumer left its entries pending');

    // records produced after the crash take the normal path
    const after = await produceClaims(st, template.id, Array.from({ length: 500 }, (_, i) => `after-${i}`), template.subStocks);
    rescuer = await startSink(cfg, { log: createLog(() => undefined) });
    await waitFor(() => drained(st), 20_000, 'the rescuer to write and ack everything');
    assert.equal(await pendingTotal(st), 0);
    assert.ok(rescuer.stats().reclaimed >= issued.length, `reclaimed ${rescuer.stats().reclaimed}`);
    await assertExactlyOnce(st, [...issued, ...after]);
  } catch (err) {
    console.error(output());
    throw err;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rescuer?.stop();
    await st.close();
  }
});

test('SIGTERM makes a sink write and ack what it holds, then exit 0', async () => {
  const cfg = testConfig();
  const st = await openStorage(cfg);
  const { child, output } = spawnHoldingSink(cfg, 'graceful');
  try {
    await insertTemplate(st, template);
    const issued = await produceClaims(st, template.id, Array.from({ length: 1000 }, (_, i) => `g-${i}`), template.subStocks);
    await waitFor(async () => (await pendingTotal(st)) === issued.length, 20_000, 'the sink to hold every record');
    assert.equal(await countRows(st), 0, 'held, not written, before the signal');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit') as [number | null, string | null];
    assert.equal(code, 0, output());
    assert.equal(await pendingTotal(st), 0);
    await assertExactlyOnce(st, issued);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await st.close();
  }
});

test('trimming removes acknowledged entries only, never one still pending', async () => {
  const cfg = testConfig({
    SINK_CONSUMER: 'trimmer', SINK_TRIM_EVERY_MS: '50', SINK_BATCH_MAX_WAIT_MS: '20',
    // nobody takes over the holder's entry during this test
    SINK_RECLAIM_IDLE_MS: '3600000',
  });
  const st = await openStorage(cfg);
  const ks = keySpace(cfg);
  // one sub-stock: every record of the template goes to one partition
  const tpl = { ...template, id: 'tpl-trim', subStocks: 1 };
  const key = streamKey(ks, subStockPartition(ks, tpl.id, 0));
  const log = createLog(() => undefined);
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    await insertTemplate(st, tpl);
    const first = await produceClaims(st, tpl.id, Array.from({ length: 1000 }, (_, i) => `a-${i}`), 1);
    sink = await startSink(cfg, { log });
    await waitFor(() => drained(st), 10_000, 'first drain');
    await waitFor(async () => (await st.redis.xlen(key)) < 500, 5_000, 'acknowledged entries to be trimmed');
    await sink.stop();
    sink = undefined;

    // a second consumer of the group takes the oldest new entry and never acks it
    const second = await produceClaims(st, tpl.id, Array.from({ length: 1000 }, (_, i) => `b-${i}`), 1);
    const held = await st.redis.xreadgroup('GROUP', cfg.redis.streamGroup, 'holder', 'COUNT', 1, 'STREAMS', key, '>') as
      [string, [string, string[]][]][];
    const heldId = held[0]![1][0]![0];

    sink = await startSink(cfg, { log });
    await waitFor(async () => (await countRows(st)) === first.length + second.length - 1, 10_000, 'all but the held entry');
    await new Promise((r) => setTimeout(r, 500)); // ten trim rounds
    assert.equal(await pendingTotal(st), 1);
    assert.equal((await st.redis.xrange(key, heldId, heldId)).length, 1, 'the pending entry survives trimming');
    assert.equal((await st.redis.xrange(key, heldId, '+')).length, second.length, 'nothing at or after it is trimmed');
    // MINID ~ trims whole stream nodes (100 entries): at most one node of older entries is left.
    await waitFor(async () => (await st.redis.xlen(key)) <= second.length + 100, 5_000, 'entries before it to be trimmed');
  } finally {
    await sink?.stop();
    await st.close();
  }
});
