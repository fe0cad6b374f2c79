/**
 * Random-amount red packets on the real Redis and MariaDB: 10,000 packets claimed at once by
 * 13,000 users through every issuance path (test/support/packets.ts PATHS: single claims on the
 * home sub-stock and, for the crowded homes, the overflow to others; batches), the amounts sum
 * to the budget exactly, none is below the minimum, replays give the same amounts, and the rows
 * the sink writes carry the amounts the clients were told (the oracle judges them).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import { assertExact, overflowed, packetTemplates, RAIN_ENV, rain, replayAll, unevenUsers } from '../../support/packets.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  s = await openStorage(testConfig(RAIN_ENV));
  rig = claimRig(s);
});
after(() => s?.close());

test('10,000 packets through every path sum to the budget exactly; replays and MySQL rows carry the same amounts', async () => {
  const { t, side } = await packetTemplates(rig, { packets: 10_000, budget: 1_234_567, minAmount: 3, subStocks: 16 });
  const users = unevenUsers(t, 'pu', 13_000);
  const issued = await rain(rig, t, side.id, users);
  assertExact(t, issued);
  assert.ok(overflowed(rig, t, issued) > 1000, `only ${overflowed(rig, t, issued)} packets came through the overflow path`);
  // users take the paths in turn (PATHS order): each path issued packets
  const pathOf = new Map(users.map((u, i) => [u, i % 2]));
  for (const p of [0, 1]) assert.ok(issued.filter((x) => pathOf.get(x.userId) === p).length > 1000, `few packets through path ${p}`);
  // amounts are random, not a fixed share: the spread is real
  assert.ok(new Set(issued.map((x) => x.amount)).size > 100, 'amounts hardly vary');

  const replays = await replayAll(rig, t, side.id, issued);
  const verdict = await judgeAfterSink(s, rig.ks, [t], { told: [...issued, ...replays], uncertain: 0 });
  assert.deepEqual(verdict.violations, []);
  assert.equal(verdict.templates[0]!.rows, 10_000);
});
