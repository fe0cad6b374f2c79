/**
 * A grant's users whose claims keep failing (here: a sub-stock key missing, so claim-home answers
 * STOCK_MISSING for every user homed on it) are retried with backoff for GRANT_RETRY_MS, then
 * counted `failed` and recorded; once every user is decided, the job passes over them again and
 * grants them if the cause is gone, with the counts moved, not added.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { allRefusals, grantCoupons, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { homeSubStock, stockKey } from '../../lua/keys.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ GRANT_POLL_MS: '100', GRANT_RETRY_MS: '2000' });
let st: Stack;

before(async () => {
  st = await openStack(env);
  st.cleanup.push(runGrantJobs(st.s));
});
after(() => st?.close());

test('users failing past the retries are recorded failed, then granted by the end-of-job pass', async () => {
  const url = st.gw.url;
  const t = await createTemplate(url, { name: 'retry', type: 'direct', value: 100, totalStock: 1000, subStocks: 4 });
  const ks = { prefix: st.s.cfg.redis.keyPrefix, partitions: st.s.cfg.redis.partitions };
  const key = stockKey(ks, t.id, 0);
  const saved = await st.s.redis.get(key);
  await st.s.redis.del(key);
  const users = Array.from({ length: 200 }, (_, i) => `f${i}`);
  const homedOnMissing = users.filter((u) => homeSubStock(t.id, u, 4) === 0);
  assert.ok(homedOnMissing.length > 10);
  const r = await postGrant(url, t.id, { userIds: users });
  const id = r.json.grantId;
  const failing = await waitGrant(url, id, (g) => g.failed > 0, 20_000);
  assert.equal(failing.failed, homedOnMissing.length, 'every user homed on the missing sub-stock, and only they');
  assert.deepEqual((await allRefusals(url, id)).map((x) => x.reason), homedOnMissing.map(() => 'failed'));
  await st.s.redis.set(key, saved!);
  const g = await waitGrant(url, id, (x) => x.state === 'done', 20_000);
  assert.equal(g.granted, users.length, JSON.stringify(g));
  assert.equal(g.failed, 0);
  assert.deepEqual(await allRefusals(url, id), []);
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(new Set(rows.map((x) => x.userId)).size, users.length);
  assert.equal(rows.length, users.length);
});
