/**
 * A red-packet grant through kill -9s of the sink running it (issue 12): chunks cut between their
 * claims and their commit, some of them on the overflow path (uneven homes), are decided again and
 * replay with the amounts they drew. Every packet goes, to one listed user each, and the amounts
 * sum to the budget exactly; the job counts each user once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, grantView, postGrant, waitGrant } from '../support/grants.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { homeSubStock } from '../../lua/keys.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

// A killed sink's unacknowledged records are taken over after 2 s instead of 30.
const env = testEnv({ GRANT_POLL_MS: '100', RECONCILE_PENDING_AGE_MS: '1000', RECONCILE_EVERY_MS: '1000', SINK_RECLAIM_IDLE_MS: '2000' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

/** The sink process that runs grant jobs, always under one consumer name. */
function grantSink(): Proc {
  const p = spawnEntry('sink/main.ts', { ...env, SINK_CONSUMER: 'packet-sink' });
  st.cleanup.push(() => p.stop('SIGKILL'));
  return p;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('kill -9 three times during a red-packet grant: every packet to one user, amounts sum to the budget', async () => {
  const url = st.gw.url;
  const budget = 1_234_567;
  const t = await createTemplate(url, { name: 'kp', type: 'red_packet', budget, minAmount: 5, totalStock: 6000, subStocks: 8 });
  // Homes crowded on two sub-stocks: most of them run dry and their users take the overflow path.
  const users: string[] = [];
  for (let i = 0; users.length < 6500; i++) if (homeSubStock(t.id, `kp${i}`, 8) < 2 || i % 5 === 0) users.push(`kp${i}`);
  const r = await postGrant(url, t.id, users.join('\n'), { 'content-type': 'text/plain' }, '?ratePerSecond=2000');
  assert.equal(r.status, 202, r.raw.toString());
  const id = r.json.grantId;
  let sink = grantSink();
  for (let kill = 0; kill < 3; kill++) {
    const before = (await grantView(url, id)).granted;
    await waitGrant(url, id, (g) => g.granted > before || g.state !== 'running', 30_000);
    await sleep(50 + Math.floor(Math.random() * 400));
    await sink.stop('SIGKILL');
    sink = grantSink();
  }
  const g = await waitGrant(url, id, (x) => x.state !== 'running', 120_000);
  assert.equal(g.state, 'done');
  assert.equal(g.failed, 0, JSON.stringify(g));
  assert.equal(g.granted, 6000, JSON.stringify(g));
  assert.equal(g.refused.sold_out, users.length - 6000);
  await waitFor(() => drained(st.s), 30_000, 'the sinks to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(rows.length, 6000);
  assert.equal(new Set(rows.map((x) => x.userId)).size, 6000, 'no user twice');
  for (const x of rows) assert.ok(Number(x.amount) >= 5, `a packet of ${x.amount}`);
  assert.equal(rows.reduce((n, x) => n + Number(x.amount), 0), budget, 'the amounts sum to the budget');
  assert.deepEqual((await judgeTemplate(st.s, t.id)).violations, []);
});
