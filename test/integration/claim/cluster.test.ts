/**
 * The claim scripts, the claim service and the sink run unchanged on a real 3-master Redis
 * Cluster (started by `make test`). Without the cluster this test fails: it never skips.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { loadConfigWith } from '../../../config/index.ts';
import * as keys from '../../../lua/keys.ts';
import { decodeRecords } from '../../../lua/record.ts';
import { startSink } from '../../../sink/sink.ts';
import { claimRig, type ClaimRig, judgeAfterSink } from '../../support/claims.ts';
import type { Told } from '../../../tools/verify/oracle.ts';
import { ApiError } from '../../../core/errors.ts';
import { waitForRows } from '../../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

let s: Storage;
let rig: ClaimRig;

before(async () => {
  const nodes = loadConfigWith({}).test.clusterNodes;
  assert.ok(nodes.length >= 3, 'TEST_REDIS_CLUSTER_NODES is not set: run through `make test`, which starts the cluster');
  s = await openStorage(testConfig({ REDIS_CLUSTER_NODES: nodes.join(',') }));
  rig = claimRig(s);
});
after(() => s?.close());

test('the client really is a cluster of three masters', async () => {
  const cluster = s.redis as Cluster;
  assert.equal(typeof cluster.nodes, 'function');
  assert.equal(cluster.nodes('master').length, 3);
});

test('a hot template spread over partitions on several nodes sells out exactly, records reach MySQL', async () => {
  const t = await rig.template({ totalStock: 120, subStocks: 8, perUserLimit: 2 });
  const cluster = s.redis as Cluster;
  const owners = new Set<string>();
  for (let k = 0; k < t.subStocks; k++) {
    const slot = Number(await cluster.cluster('KEYSLOT', keys.stockKey(rig.ks, t.id, k)));
    const node = cluster.slots[slot]?.[0];
    assert.ok(node, `no owner for slot ${slot}`);
    owners.add(node);
  }
  assert.ok(owners.size >= 2, `all sub-stocks landed on one node (${[...owners]})`);

  const jobs = Array.from({ length: 400 }, (_, i) => ({ userId: `cu${i % 150}`, templateId: t.id, requestId: `r${i % 300}` }));
  const answers = await Promise.all(jobs.map((j) => rig.service.claim(j)));
  const coupons = new Map<string, string>();
  for (const a of answers) if (a.status === 200) coupons.set(String(a.body.couponId), String(a.body.userId));
  assert.equal(coupons.size, 120);
  const perUser = new Map<string, number>();
  for (const u of coupons.values()) perUser.set(u, (perUser.get(u) ?? 0) + 1);
  assert.ok(Math.max(...perUser.values()) <= 2);

  // Every issuance record is in its partition's stream, on whichever node owns it.
  const recorded = new Set<string>();
  for (const key of keys.allStreamKeys(rig.ks)) {
    for (const [, fields] of await s.redis.xrangeBuffer(key, '-', '+')) {
      for (const r of decodeRecords(fields[1]!)) if (r.templateId === t.id) recorded.add(r.couponId);
    }
  }
  assert.deepEqual(recorded, new Set(coupons.keys()));

  const sink = await startSink(s.cfg, { redis: s.redis, mysql: s.mysql });
  try {
    const rows = await waitForRows(s, t.id, 120);
    assert.deepEqual(new Set(rows.map((r) => r.coupon_id)), new Set(coupons.keys()));
  } finally {
    await sink.stop();
  }
});

test("batches whose templates meet in partitions: one call per partition on the cluster, racing themselves and single claims", async () => {
  const ts = await Promise.all(Array.from({ length: 12 }, () => rig.template({ totalStock: 15, perUserLimit: 2, subStocks: 2 })));
  const homes = new Set(ts.map((t) => keys.subStockPartition(rig.ks, t.id, keys.homeSubStock(t.id, 'warm-c', 2))));
  assert.ok(homes.size < ts.length, 'some homes of one user meet in a partition (12 templates, 16 partitions, 2 sub-stocks)');
  // the warm-up claims issue too: the oracle is told of them like of the rest.
  const told: Told[] = [];
  const tell = (templateId: string, userId: string, requestId: string | undefined, a: { status: number; body: Record<string, unknown> }) => {
    if (a.status === 200) told.push({ templateId, userId, requestId, couponId: String(a.body.couponId), replayed: a.body.replayed === true,
      toldUserId: String(a.body.userId), toldTemplateId: String(a.body.templateId), at: Date.now() });
  };
  for (const t of ts) {
    const a = await rig.service.claim({ userId: 'warm', templateId: t.id });
    assert.equal(a.status, 200);
    tell(t.id, 'warm', undefined, a);
  }
  const { calls } = rig.service.groups;
  const warm = await Promise.all(ts.map((t) => rig.service.claim({ userId: 'warm-c', templateId: t.id, requestId: 'w' })));
  assert.deepEqual(warm.map((a) => a.status), ts.map(() => 200));
  warm.forEach((a, i) => tell(ts[i]!.id, 'warm-c', 'w', a));
  assert.equal(rig.service.groups.calls - calls, homes.size, 'one call per home partition');

  // the same user's batch three times at once (a triple click), other users' batches and single
  // claims with the same request ids, until every template is sold out.
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 150; i++) {
    const userId = `cb${i % 25}`;
    const requestId = `q${i % 3}`;
    const batch = i % 5 === 4 ? ts.slice(0, 1 + (i % ts.length)) : ts;
    jobs.push(...batch.map((t) => rig.service.claim({ userId, templateId: t.id, requestId }).then((a) => tell(t.id, userId, requestId, a),
      (err: unknown) => {
        // a duplicate waiting for the first click's overflow may give up (503): its outcome is the first's.
        assert.ok(err instanceof ApiError && err.code === 'unavailable', String(err));
        unknown++;
      })));
  }
  let unknown = 0;
  await Promise.all(jobs);
  const v = await judgeAfterSink(s, rig.ks, ts, { told, uncertain: unknown });
  assert.deepEqual(v.violations, []);
  for (const t of v.templates) assert.equal(t.rows, 15, `${t.id}: sold out`);
  assert.ok(v.replays > 0);
});
