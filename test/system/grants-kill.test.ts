/**
 * A grant job survives a kill -9 of the sink process running it (issue 12): the restarted sink
 * (same consumer name, so it takes the work lease back at once) resumes from the cursor in
 * MySQL; the chunk in hand at the kill is decided again and replays. Every listed user ends
 * with exactly one coupon of the grant, none twice, none skipped, counted once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, postGrant, waitGrant } from '../support/grants.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

const env = testEnv({ GRANT_POLL_MS: '100', RECONCILE_PENDING_AGE_MS: '1000', RECONCILE_EVERY_MS: '1000' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

/** The sink process that runs grant jobs, always under one consumer name. */
function grantSink(): Proc {
  const p = spawnEntry('sink/main.ts', { ...env, SINK_CONSUMER: 'grant-sink' });
  st.cleanup.push(() => p.stop('SIGKILL'));
  return p;
}

test('kill -9 of the sink running a grant, twice: resumed, no user twice, none skipped', async () => {
  const url = st.gw.url;
  const users = Array.from({ length: 20_000 }, (_, i) => `k${i}`);
  // Stock for exactly every user: the last chunks take the overflow path as home sub-stocks run dry.
  const t = await createTemplate(url, { name: 'kill', type: 'direct', value: 100, totalStock: users.length });
  const r = await postGrant(url, t.id, users.join('\n'), { 'content-type': 'text/plain' }, '?ratePerSecond=4000');
  assert.equal(r.status, 202, r.raw.toString());
  const id = r.json.grantId;
  let sink = grantSink();
  for (const at of [5_000, 15_000]) {
    await waitGrant(url, id, (g) => g.granted >= at, 60_000);
    await sink.stop('SIGKILL');
    sink = grantSink();
  }
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
