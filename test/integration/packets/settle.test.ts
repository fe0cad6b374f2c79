/**
 * A red packet taken by an overflow step whose gateway died before settling: the reconciler
 * confirms the reservation from MySQL's row, and the answer it stores for replays carries the
 * packet's amount, as the gateway would have stored it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { couponIdPrefix } from '../../../core/shards.ts';
import { ScriptCode } from '../../../lua/codes.ts';
import { Commands } from '../../../lua/commands.ts';
import { homeSubStock, subStockPartition } from '../../../lua/keys.ts';
import { reconcileCtx } from '../../../reconcile/context.ts';
import { reconcileOnce } from '../../../reconcile/reconcile.ts';
import { createLog } from '../../../sink/log.ts';
import { startSink } from '../../../sink/sink.ts';
import { drained, openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';
import { claimRig, type ClaimRig } from '../../support/claims.ts';
import { waitFor } from '../../support/sink-fixtures.ts';

let s: Storage;
let rig: ClaimRig;
before(async () => {
  s = await openStorage(testConfig({ RECONCILE_PENDING_AGE_MS: '1000' }));
  rig = claimRig(s);
});
after(() => s?.close());

test("a dead gateway's overflow packet is confirmed by the reconciler with its amount: the replay answers it", async () => {
  const t = await rig.template({ type: 'red_packet', value: 0, budget: 1000, minAmount: 10, totalStock: 4, subStocks: 2 });
  const user = 'dying';
  const home = homeSubStock(t.id, user, 2);
  // the user's home sub-stock runs empty (its two packets go to neighbours)
  const neighbours = Array.from({ length: 200 }, (_, i) => `n${i}`).filter((u) => homeSubStock(t.id, u, 2) === home).slice(0, 2);
  for (const u of neighbours) assert.equal((await rig.service.claim({ userId: u, templateId: t.id })).status, 200);

  const commands = new Commands(s.redis, rig.ks);
  const claim = { templateId: t.id, userId: user, requestId: 'r1', remember: '1', perUserLimit: 1, home,
    homePartition: subStockPartition(rig.ks, t.id, home), shardPrefix: couponIdPrefix({ dbs: s.cfg.mysql.shardDbs,
      tables: s.cfg.mysql.shardTables }, user), minAmount: 10 } as const;
  const [code, token] = await commands.claimHome(claim);
  assert.equal(code, ScriptCode.Reserved);
  const [taken, answer] = await commands.claimTake({ ...claim, token: String(token) }, 1 - home);
  assert.equal(taken, ScriptCode.Issued);
  assert.match(String(answer), /^[0-9.]+:\d+$/, 'the answer carries the amount');
  // ... and the gateway dies here, before claim-settle.

  const sink = await startSink(s.cfg, { redis: s.redis, mysql: s.mysql, log: createLog(() => undefined) });
  try {
    await waitFor(() => drained(s), 10_000, 'the sink stored the packet');
    await new Promise((r) => setTimeout(r, 1100));
    const pass = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
    assert.equal(pass.reservations.confirmed, 1);
  } finally {
    await sink.stop();
  }
  assert.deepEqual(await commands.claimReplay(claim), [ScriptCode.Replayed, answer]);
  const replay = await rig.service.claim({ userId: user, templateId: t.id, requestId: 'r1' });
  const [couponId, amount] = String(answer).split(':');
  assert.deepEqual([replay.body.couponId, replay.body.amount, replay.body.replayed], [couponId, Number(amount), true]);
});
