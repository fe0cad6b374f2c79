/**
 * A grant job survives a kill -9 of the sink process running it (issue 12): the restarted sink
 * (same consumer name, so it takes the work lease back at once) resumes from the cursor in
 * MySQL; the chunk in hand at the kill (its claims sent, its commit not) is decided again and
 * replays. Every listed user ends with exactly one coupon of the grant, none twice, none
 * skipped, counted once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, grantView, postGrant, waitGrant } from '../support/grants.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { stockKey } from '../../lua/keys.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

// A killed sink's unacknowledged records are taken over after 2 s instead of 30.
const env = testEnv({ GRANT_POLL_MS: '100', RECONCILE_PENDING_AGE_MS: '1000', RECONCILE_EVERY_MS: '1000', SINK_RECLAIM_IDLE_MS: '2000' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

/** The sink process that runs grant jobs, always under one consumer name. */
function grantSink(): Proc {
  const p = spawnEntry('sink/main.ts', { ...env, SINK_CONSUMER: 'grant-sink' });
  st.cleanup.push(() => p.stop('SIGKILL'));
  return p;
}

/** Coupons of the template Redis has issued: the stock taken from its sub-stocks. */
async function issuedInRedis(t: { id: string; totalStock: number; subStocks: number }): Promise<number> {
  const ks = { prefix: st.s.cfg.redis.keyPrefix, partitions: st.s.cfg.redis.partitions };
  const left = await Promise.all(Array.from({ length: t.subStocks }, (_, k) => st.s.redis.get(stockKey(ks, t.id, k))));
  return t.totalStock - left.reduce((n, v) => n + Number(v), 0);
}

test('kill -9 of the sink with a chunk in flight, twice: resumed, no user twice, none skipped, counted once', async () => {
  const url = st.gw.url;
  const users = Array.from({ length: 20_000 }, (_, i) => `k${i}`);
  // Stock for exactly every user: the last chunks take the overflow path as home sub-stocks run dry.
  const t = await createTemplate(url, { name: 'kill', type: 'direct', value: 100, totalStock: users.length });
  const r = await postGrant(url, t.id, users.join('\n'), { 'content-type': 'text/plain' }, '?ratePerSecond=5000');
  assert.equal(r.status, 202, r.raw.toString());
  const id = r.json.grantId;
  let sink = grantSink();
  // A kill only tests the resume when it cuts a chunk between its claims and its commit: then
  // Redis has issued coupons the job has not counted. Each kill waits for that moment.
  let cuts = 0;
  for (let attempt = 0; attempt < 8 && cuts < 2; attempt++) {
    await waitFor(async () => (await issuedInRedis(t)) > (await grantView(url, id)).granted, 30_000, 'a chunk in flight');
    await sink.stop('SIGKILL');
    const [issued, counted] = [await issuedInRedis(t), (await grantView(url, id)).granted];
    if (issued > counted) cuts++;
    sink = grantSink();
    // The restarted sink first decides the cut chunk again (its coupons replay): wait until it is past it.
    await waitGrant(url, id, (g) => g.granted >= issued + 500 || g.state === 'done', 60_000);
  }
  assert.equal(cuts, 2, 'two kills landed with a chunk in flight');
  const g = await waitGrant(url, id, (x) => x.state === 'done', 120_000);
  assert.equal(g.granted, users.length, JSON.stringify(g));
  assert.deepEqual(g.refused, { limit_reached: 0, sold_out: 0, ended: 0, not_eligible: 0 });
  assert.equal(g.failed, 0);
  await waitFor(() => drained(st.s), 30_000, 'the sinks to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  const holders = new Set(rows.map((x) => x.userId));
  assert.equal(rows.length, users.length, 'one coupon per listed user');
  assert.equal(holders.size, users.length, 'no user twice');
  for (const u of users) assert.ok(holders.has(u), `${u} was skipped`);
  const v = await judgeTemplate(st.s, t.id);
  assert.deepEqual(v.violations, []);
});
