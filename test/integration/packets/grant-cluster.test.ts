/**
 * A bulk grant on a real 3-master Redis Cluster (started by `make test`): the job's group-commit
 * calls and overflow steps go to the master of each sub-stock, a claim rain of half the same
 * users races it, and a red-packet template's amounts still sum to the budget exactly. Each
 * listed user ends granted or refused once, the counts equal the rows. Without the cluster this
 * test fails: it never skips.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { loadConfigWith } from '../../../config/index.ts';
import { newGrantId } from '../../../issuance/grant-model.ts';
import { GrantStore } from '../../../issuance/grant-store.ts';
import { stockKey } from '../../../lua/keys.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { grantCoupons, runGrantJobs } from '../../support/grants.ts';
import { assertExact, packetTemplates, rain, unevenUsers } from '../../support/packets.ts';
import { waitFor } from '../../support/sink-fixtures.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  s = await openStorage(testConfig({ REDIS_CLUSTER_NODES: nodes.join(','), REDIS_COMMAND_TIMEOUT_MS: '5000',
    ADMIT_GLOBAL_RPS: '1000000', ADMIT_GLOBAL_BURST: '1000000', ADMIT_TEMPLATE_RPS: '1000000', ADMIT_TEMPLATE_BURST: '1000000',
    CLAIM_PENDING_WAIT_MS: '3000', GRANT_POLL_MS: '100' }));
  rig = claimRig(s);
});
after(() => s?.close());

test('a grant and a claim rain of the same users share 5,000 packets over several masters', async () => {
  const { t, side } = await packetTemplates(rig, { packets: 5_000, budget: 456_789, minAmount: 3, subStocks: 12 });
  const cluster = s.redis as Cluster;
  const owners = new Set<string>();
  for (let k = 0; k < t.subStocks; k++) owners.add(cluster.slots[Number(await cluster.cluster('KEYSLOT', stockKey(rig.ks, t.id, k)))]![0]!);
  assert.ok(owners.size >= 2, 'the sub-stocks landed on one master');
  const listed = unevenUsers(t, 'cg', 6_000);
  // Half the listed users also claim for themselves: one packet each (per-user limit 1), whichever path wins.
  const rained = listed.filter((_, i) => i % 2 === 0);
  const store = new GrantStore(s.mysql, s.cfg.mysql);
  const grantId = newGrantId();
  await store.addUsers(grantId, listed.map((userId, seq) => ({ seq, userId })));
  await store.create(grantId, t.id, listed.length, 20_000, Date.now());
  const stop = runGrantJobs(s, `cluster-${grantId}`);
  try {
    const told = await rain(rig, t, side.id, rained, ['limit_reached']);
    await waitFor(async () => ['done', 'failed'].includes((await store.get(grantId))!.state), 60_000, 'the grant to finish');
    const job = (await store.get(grantId))!;
    assert.equal(job.state, 'done', JSON.stringify(job));
    const refused = Object.values(job.refused).reduce((a, b) => a + b, 0);
    assert.equal(job.granted + refused + job.failed, listed.length, JSON.stringify(job));
    assert.equal(job.failed, 0);
    assert.ok(job.granted > 500, `granted only ${job.granted}`);
    const verdict = await judgeAfterSink(s, rig.ks, [t], { told, uncertain: job.granted });
    assert.deepEqual(verdict.violations, []);
    const granted = await grantCoupons(s, t.id, grantId);
    assert.equal(granted.length, job.granted);
    assert.equal(new Set(granted.map((x) => x.userId)).size, granted.length, 'no user twice');
    assertExact(t, [...told, ...granted]);
  } finally {
    await stop();
  }
});
