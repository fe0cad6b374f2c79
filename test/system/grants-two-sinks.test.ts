/**
 * Two sinks at once (issue 12): the work lease keeps one job runner. The holder is frozen
 * (SIGSTOP) past the lease with a chunk in hand; the other sink takes the lease and resumes the
 * job from its cursor; the frozen one wakes (SIGCONT) still believing it holds the lease and
 * finishes its chunk. Whichever commits a chunk first counts it: each user once, counts = rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, grantView, postGrant, waitGrant } from '../support/grants.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { reconcileLeaseKey } from '../../lua/keys.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

const env = testEnv({ GRANT_POLL_MS: '100', RECONCILE_LEASE_MS: '1500', RECONCILE_PENDING_AGE_MS: '1000', RECONCILE_EVERY_MS: '1000' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sink process named `name`, killed at the end. */
function sink(name: string): Proc {
  const p = spawnEntry('sink/main.ts', { ...env, SINK_CONSUMER: name });
  st.cleanup.push(async () => {
    p.child.kill('SIGCONT');
    await p.stop('SIGKILL');
  });
  return p;
}

test('the lease holder frozen past its lease, then woken: one job runner at a time, each user counted once', async () => {
  const url = st.gw.url;
  const users = Array.from({ length: 10_000 }, (_, i) => `w${i}`);
  const t = await createTemplate(url, { name: 'two', type: 'direct', value: 100, totalStock: users.length, subStocks: 8 });
  const sinks = new Map([['sink-a', sink('sink-a')], ['sink-b', sink('sink-b')]]);
  const r = await postGrant(url, t.id, { userIds: users, ratePerSecond: 3000 });
  assert.equal(r.status, 202);
  const id = r.json.grantId;
  const ks = { prefix: st.s.cfg.redis.keyPrefix, partitions: st.s.cfg.redis.partitions };
  for (let round = 0; round < 3; round++) {
    const before = (await grantView(url, id)).granted;
    await waitGrant(url, id, (g) => g.granted > before || g.state !== 'running', 20_000);
    const holder = await st.s.redis.get(reconcileLeaseKey(ks));
    const frozen = sinks.get(String(holder));
    assert.ok(frozen, `the lease is held by ${holder}`);
    frozen.child.kill('SIGSTOP');
    await waitFor(async () => (await st.s.redis.get(reconcileLeaseKey(ks))) !== holder, 10_000, 'the other sink to take the lease');
    await sleep(500);
    frozen.child.kill('SIGCONT');
  }
  const g = await waitGrant(url, id, (x) => x.state !== 'running', 60_000);
  assert.equal(g.state, 'done');
  assert.equal(g.granted, 10_000, JSON.stringify(g));
  assert.equal(g.failed, 0);
  await waitFor(() => drained(st.s), 30_000, 'the sinks to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(rows.length, 10_000);
  assert.equal(new Set(rows.map((x) => x.userId)).size, 10_000, 'no user twice');
  assert.deepEqual((await judgeTemplate(st.s, t.id)).violations, []);
});
