// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The reconciler against reservations made by one claim-home call of several templates
 * (lua/claim-home-n.lua): they share one token. A dead gateway's take for one of them is
 * confirmed, the others released; a late take for a released one is refused although another
 * template's reservation of the same token was confirmed. A reserve-only ('2') reservation left
 * pending with stock at home is released without touching the stock.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Template } from '../../templates/model.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands, type HomeClaim } from '../../lua/commands.ts';
import { homeSubStock, stockKey, subStockPartition, usersKey } from '../../lua/keys.ts';
import { couponIdPrefix } from '../../core/shards.ts';
import { createLog } from '../../sink/log.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { startSink } from '../../sink/sink.ts';
import { claimRig, type ClaimRig } from '../support/claims.ts';
import { keySpace, layout, waitFor } from '../support/sink-fixtures.ts';
import { drained, openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { judge, type Told } from '../../tools/verify/oracle.ts';
import { storedCoupons, templateState } from '../../tools/verify/facts.ts';

const env = testEnv({ RECONCILE_PENDING_AGE_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let rig: ClaimRig;
let stopSink: (() => Promise<void>) | undefined;

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  stopSink = () => sink.stop();
});
after(async () => {
  await stopSink?.();
  await s?.close();
});

const ks = () => keySpace(s.cfg);
const pass = () => reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));

/** `n` new 2-sub-stock templates whose home sub-stock for `userId` lies in one partition. */
async function templatesMeeting(userId: string, n: number, tag: string): Promise<Template[]> {
  const where = (id: string) => subStockPartition(ks(), id, homeSubStock(id, userId, 2));
  const ids = [`${tag}-0`];
  for (let i = 1; ids.length < n; i++) if (where(`${tag}-${i}`) === where(ids[0]!)) ids.push(`${tag}-${i}`);
  return Promise.all(ids.map((id) => rig.template({ id, totalStock: 10, subStocks: 2, perUserLimit: 1 })));
}

function claimOf(t: Template, userId: string, requestId: string, remember: HomeClaim['remember']): HomeClaim {
  const home = homeSubStock(t.id, userId, 2);
  return { templateId: t.id, userId, requestId, remember, perUserLimit: t.perUserLimit, home,
    homePartition: subStockPartition(ks(), t.id, home), shardPrefix: couponIdPrefix(layout(s.cfg), userId) };
}

test("one call's reservations of three templates share a token: the taken one is confirmed, the rest released and fenced", async () => {
  const commands = new Commands(s.redis, ks());
  const ts = await templatesMeeting('seg-u', 3, 'segtok');
  const claims = ts.map((t) => claimOf(t, 'seg-u', 'r', '1'));
  // each home emptied into the other sub-stock (the total stays): the claims reserve.
  for (const c of claims) {
    const home = stockKey(ks(), c.templateId, c.home);
    await s.redis.incrby(stockKey(ks(), c.templateId, 1 - c.home), Number(await s.redis.getset(home, 0)));
  }
  const replies = await commands.claimHomeGroup(claims);
  assert.deepEqual(replies.map(([c]) => c), claims.map(() => ScriptCode.Reserved));
  const token = String(replies[0]![1]);
  assert.ok(replies.every(([, t]) => t === token), 'one token for the call');
  // the gateway took a coupon for the first template, then died before settling any of them.
  const [code, coupon] = await commands.claimTake({ ...claims[0]!, token }, 1 - claims[0]!.home);
  assert.equal(code, ScriptCode.Issued);
  await sleep(1100);

  const r = await pass();
  assert.equal(r.stalled, undefined);
  assert.deepEqual([r.reservations.found, r.reservations.confirmed, r.reservations.released], [3, 1, 2]);
  // a late take of the dead gateway for a released template is refused, token shared or not.
  for (const c of claims.slice(1)) {
    assert.deepEqual(await commands.claimTake({ ...c, token }, 1 - c.home), [ScriptCode.Released], c.templateId);
  }
  const held = await Promise.all(claims.map((c) => s.redis.hgetall(usersKey(ks(), c.homePartition, c.templateId))));
  assert.deepEqual(held, [{ 'seg-u': '1', 'seg-u|r': String(coupon) }, {}, {}]);
  const told: Told[] = [];
  for (const t of ts) {
    const a = await rig.service.claim({ userId: 'seg-u', templateId: t.id, requestId: 'r' });
    assert.equal(a.status, 200, t.id);
    told.push({ templateId: t.id, userId: 'seg-u', requestId: 'r', couponId: String(a.body.couponId), replayed: a.body.replayed === true,
      toldUserId: String(a.body.userId), toldTemplateId: String(a.body.templateId), at: Date.now() });
  }
  assert.deepEqual([told[0]!.couponId, told[0]!.replayed], [coupon, true], 'the confirmed coupon replays');
  await waitFor(() => drained(s), 20_000, 'the sink to drain');
  const v = judge({
    told, uncertain: 0, backlog: 0,
    templates: await Promise.all(ts.map((t) => templateState(s.redis, ks(), t))),
    rows: await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, layout(s.cfg), { ids: ts.map((t) => t.id) }),
  });
  assert.deepEqual(v.violations, []);
  assert.deepEqual(v.templates.map((x) => x.rows), [1, 1, 1]);
});

test('a reserve-only reservation left pending with stock at home: released, the stock untouched, the request claims afresh', async () => {
  const commands = new Commands(s.redis, ks());
  const [t] = await templatesMeeting('seg-r', 1, 'segres');
  const c = claimOf(t!, 'seg-r', 'code-1', '2');
  const [code] = await commands.claimHome(c);
  assert.equal(code, ScriptCode.Reserved);
  assert.deepEqual(await commands.claimReplay(c), [ScriptCode.Pending]);
  const stock = await s.redis.get(stockKey(ks(), t!.id, c.home));
  await sleep(1100);
  const r = await pass();
  assert.deepEqual([r.reservations.found, r.reservations.released], [1, 1]);
  assert.equal(await s.redis.get(stockKey(ks(), t!.id, c.home)), stock);
  assert.deepEqual(await s.redis.hgetall(usersKey(ks(), c.homePartition, t!.id)), {});
  const again = await rig.service.claim({ userId: 'seg-r', templateId: t!.id, requestId: 'code-1' });
  assert.deepEqual([again.status, again.body.replayed], [200, undefined]);
});
