/**
 * The restart fence (lua/fenced.ts) is Redis's script cache, which every key space on a Redis
 * shares; whether a run is repaired is recorded per key space (<prefix>:reconcile:run). Two
 * deployments on one Redis (two KEY_PREFIXes: two tenants, staging next to production, a tool
 * started with a fresh prefix) must not open each other's fence: after a restart, the first one
 * repaired (or a fresh one started) must not let the other's claims run on a Redis whose users
 * and stock are not repaired for it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as keys from '../../lua/keys.ts';
import { checkLayout, layoutFacts } from '../../lua/layout.ts';
import { createTemplate, http } from '../support/http.ts';
import { type GatewayProc } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { type Stack, openStack } from '../support/stack.ts';
import { type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';

const env = testEnv({ SINK_BATCH_MAX_WAIT_MS: '20' });
let stack: Stack;
let s: Storage;
let gw: GatewayProc;

before(async () => {
  stack = await openStack(env);
  ({ s, gw } = stack);
});
after(() => stack?.close());

const ks = () => ({ prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions });
const claim = (userId: string, templateId: string, requestId?: string) =>
  http('POST', `${gw.url}/v1/claim`, { userId, templateId, requestId });

test('another key space on the same Redis, started or repaired after a restart, does not open this one\'s fence', async () => {
  await createTemplate(gw.url, { id: 'pfx', name: 'pfx', type: 'direct', value: 100, totalStock: 10, perUserLimit: 1, subStocks: 1 });
  const users = ['pa', 'pb', 'pc'];
  for (const u of users) assert.equal((await claim(u, 'pfx', `q-${u}`)).status, 200);
  await waitFor(() => drained(s), 10_000, 'the sink stored the coupons');

  // Redis comes back without those claims; this key space's run is not repaired.
  const p = keys.subStockPartition(ks(), 'pfx', 0);
  await s.redis.incrby(keys.stockKey(ks(), 'pfx', 0), users.length);
  for (const u of users) await s.redis.hdel(keys.usersKey(ks(), p, 'pfx'), u, `${u}|q-${u}`);
  await s.redis.set(keys.reconcileRunKey(ks()), 'a-run-before-the-crash');
  await s.redis.script('FLUSH');
  assert.equal((await claim('pa', 'pfx', 'again-pa')).status, 503, 'fenced');

  // Another deployment's process starts on the same Redis with a fresh key space: for it there
  // is nothing to repair, so it records the run as repaired for itself (as every process does).
  const other = testConfig();
  await checkLayout(s.redis, { prefix: other.redis.keyPrefix, partitions: other.redis.partitions }, layoutFacts(other));
  stack.cleanup.push(() => s.redis.del(keys.metaKey({ prefix: other.redis.keyPrefix, partitions: 1 }),
    keys.reconcileRunKey({ prefix: other.redis.keyPrefix, partitions: 1 })));

  await new Promise((r) => setTimeout(r, 300)); // past the gateway's 200 ms between looks
  // This key space is still unrepaired: a user at the limit must not get a second coupon, a
  // retry must not get a new one.
  for (const u of users) {
    const again = await claim(u, 'pfx', `again-${u}`);
    assert.equal(again.status, 503, `${u} claimed on an unrepaired Redis: ${again.raw}`);
  }
});
