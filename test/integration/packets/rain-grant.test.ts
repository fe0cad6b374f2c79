/**
 * Red packets through a bulk grant (issue 12): a grant job (the sink's job runner, in-process)
 * and a claim rain share one red-packet template at once. The grant's packets draw from the same
 * budgets in the same scripts, so every packet issued by either path sums with the others to the
 * budget exactly; the rows the grant wrote carry their amounts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newGrantId } from '../../../issuance/grant-model.ts';
import { GrantStore } from '../../../issuance/grant-store.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { grantCoupons, runGrantJobs } from '../../support/grants.ts';
import { assertExact, packetTemplates, RAIN_ENV, rain, unevenUsers } from '../../support/packets.ts';
import { waitFor } from '../../support/sink-fixtures.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  s = await openStorage(testConfig({ ...RAIN_ENV, GRANT_POLL_MS: '100' }));
  rig = claimRig(s);
});
after(() => s?.close());

test('a grant job and a claim rain share 10,000 packets: together they sum to the budget exactly', async () => {
  const { t, side } = await packetTemplates(rig, { packets: 10_000, budget: 987_654, minAmount: 2, subStocks: 16 });
  const users = unevenUsers(t, 'gu', 13_000);
  const [rained, listed] = [users.filter((_, i) => i % 2 === 0), users.filter((_, i) => i % 2 === 1)];
  const store = new GrantStore(s.mysql, s.cfg.mysql);
  const grantId = newGrantId();
  await store.addUsers(grantId, listed.map((userId, i) => ({ seq: i + 1, userId })));
  await store.create(grantId, t.id, listed.length, 20_000, Date.now());
  const stop = runGrantJobs(s, `packets-${grantId}`);
  try {
    const told = await rain(rig, t, side.id, rained);
    await waitFor(async () => ['done', 'failed'].includes((await store.get(grantId))!.state), 60_000, 'the grant to finish');
    const job = (await store.get(grantId))!;
    assert.equal(job.state, 'done');
    assert.equal(job.failed, 0);
    assert.ok(job.granted > 1000 && told.length > 1000, `granted ${job.granted}, rained ${told.length}: both paths must issue`);
    assert.equal(job.granted + told.length, 10_000, 'every packet issued, by one path or the other');
    const verdict = await judgeAfterSink(s, rig.ks, [t], { told, uncertain: job.granted });
    assert.deepEqual(verdict.violations, []);
    const granted = await grantCoupons(s, t.id, grantId);
    assert.equal(granted.length, job.granted);
    assertExact(t, [...told, ...granted]);
  } finally {
    await stop();
  }
});
