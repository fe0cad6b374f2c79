/**
 * A grant job whose Redis goes away mid-job (issue 12, brief invariant 4): replies lost after
 * the claims ran (the outcome unknown), then Redis down for seconds. The job waits and retries
 * (GRANT_RETRY_MS is longer than the outage): nobody is counted failed or refused for it, the
 * claims whose replies were lost replay, and every listed user ends with one coupon, counted once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, grantView, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { type ProxiedRedis, redisBehindProxy } from '../support/redis-proxy.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

const env = testEnv({ GRANT_POLL_MS: '100', GRANT_RETRY_MS: '60000' });
let st: Stack;
let via: ProxiedRedis;

before(async () => {
  st = await openStack(env);
  via = await redisBehindProxy(st.s, 'grant-runner');
  st.cleanup.push(() => via.close());
  // The job runner talks to Redis through the proxy; the gateway and the sink do not.
  st.cleanup.push(runGrantJobs({ ...st.s, redis: via.client }));
});
after(() => st?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('lost replies and a Redis outage mid-job: the job waits, no one failed or refused, each user once', async () => {
  const url = st.gw.url;
  const users = Array.from({ length: 4000 }, (_, i) => `o${i}`);
  const t = await createTemplate(url, { name: 'outage', type: 'direct', value: 100, totalStock: 5000, subStocks: 4 });
  const r = await postGrant(url, t.id, { userIds: users, ratePerSecond: 2000 });
  assert.equal(r.status, 202);
  const id = r.json.grantId;
  await waitGrant(url, id, (g) => g.granted > 300, 20_000);
  // Replies dropped after their calls ran: those claims' outcomes are unknown to the job.
  for (let i = 0; i < 5; i++) {
    via.proxy.armCut();
    await sleep(150);
  }
  via.proxy.setDown(true);
  await sleep(3_000);
  const during = await grantView(url, id);
  via.proxy.setDown(false);
  assert.equal(during.failed, 0, JSON.stringify(during));
  assert.deepEqual(during.refused, { limit_reached: 0, sold_out: 0, ended: 0, not_eligible: 0 });
  const g = await waitGrant(url, id, (x) => x.state !== 'running', 60_000);
  assert.equal(g.state, 'done');
  assert.equal(g.granted, users.length, JSON.stringify(g));
  assert.equal(g.failed, 0);
  await waitFor(() => drained(st.s), 30_000, 'the sink to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(rows.length, users.length);
  assert.equal(new Set(rows.map((x) => x.userId)).size, users.length, 'no user twice');
  assert.deepEqual((await judgeTemplate(st.s, t.id)).violations, []);
});
