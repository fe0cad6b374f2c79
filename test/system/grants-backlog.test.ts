/**
 * Backpressure: a grant job waits while the sink's stream backlog is above GRANT_BACKLOG_MAX,
 * so a grant cannot flood the streams (and push claims into 503s); it goes on once a sink
 * stores what is waiting.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantView, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';
import { totalBacklog } from '../../lua/backlog.ts';
import { createLog } from '../../sink/log.ts';
import { startSink } from '../../sink/sink.ts';

// A chunk of 500 users makes ~16 stream entries (one per claim-home call): one chunk fills it.
const env = testEnv({ GRANT_POLL_MS: '100', GRANT_BACKLOG_MAX: '5', GRANT_CHUNK_MAX: '500' });
let s: Storage;
let gw: GatewayProc;
const stops: (() => Promise<unknown>)[] = [];

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  stops.push(() => gw.stop(), runGrantJobs(s));
});
after(async () => {
  for (const f of stops.reverse()) await f();
  await s?.close();
});

test('no sink storing: the job stops at the backlog bound; a sink drains it and the job ends', async () => {
  const t = await createTemplate(gw.url, { name: 'backlog', type: 'direct', value: 100, totalStock: 10_000 });
  const r = await postGrant(gw.url, t.id, { userIds: Array.from({ length: 3000 }, (_, i) => `b${i}`), ratePerSecond: 100_000 });
  const id = r.json.grantId;
  await waitGrant(gw.url, id, (g) => g.granted > 0, 10_000);
  await new Promise((res) => setTimeout(res, 1500));
  const held = await grantView(gw.url, id);
  assert.equal(held.state, 'running');
  assert.ok(held.granted <= 1000, `the job went on past the bound: ${held.granted} granted`);
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  assert.ok(await totalBacklog(s.redis, ks, s.cfg.redis.streamGroup) > 5);
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  stops.push(() => sink.stop());
  const g = await waitGrant(gw.url, id, (x) => x.state === 'done', 30_000);
  assert.equal(g.granted, 3000);
});
