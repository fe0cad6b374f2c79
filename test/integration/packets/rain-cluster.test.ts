/**
 * The red-packet rain of rain.test.ts on a real 3-master Redis Cluster (started by `make test`):
 * a template's sub-stocks and their budgets spread over the masters, overflow steps cross
 * nodes, and the amounts still sum to the budget exactly. Without the cluster this test fails:
 * it never skips.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { loadConfigWith } from '../../../config/index.ts';
import { budgetKey } from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { assertExact, overflowed, packetTemplates, rain, replayAll, unevenUsers } from '../../support/packets.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  s = await openStorage(testConfig({ REDIS_CLUSTER_NODES: nodes.join(','), REDIS_COMMAND_TIMEOUT_MS: '5000',
    ADMIT_GLOBAL_RPS: '1000000', ADMIT_GLOBAL_BURST: '1000000', ADMIT_TEMPLATE_RPS: '1000000', ADMIT_TEMPLATE_BURST: '1000000',
    CLAIM_PENDING_WAIT_MS: '3000' }));
  rig = claimRig(s);
});
after(() => s?.close());

test('10,000 packets over sub-stocks on several masters sum to the budget exactly', async () => {
  const { t, side } = await packetTemplates(rig, { packets: 10_000, budget: 987_654, minAmount: 7, subStocks: 12 });
  const cluster = s.redis as Cluster;
  const owners = new Set<string>();
  for (let k = 0; k < t.subStocks; k++) {
    const slot = Number(await cluster.cluster('KEYSLOT', budgetKey(rig.ks, t.id, k)));
    owners.add(cluster.slots[slot]![0]!);
  }
  assert.ok(owners.size >= 2, 'the budgets landed on one master');

  const issued = await rain(rig, t, side.id, unevenUsers(t, 'cu', 12_000));
  assertExact(t, issued);
  assert.ok(overflowed(rig, t, issued) > 500, `only ${overflowed(rig, t, issued)} packets came through the overflow path`);
  const replays = await replayAll(rig, t, side.id, issued);
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told: [...issued, ...replays], uncertain: 0 });
  assert.deepEqual(verdict.violations, []);
});
