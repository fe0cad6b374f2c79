/**
 * A kill -9 of the sink during a job's end-of-job pass over its failed users (issue 12): the
 * pass had issued coupons to some of them (their sub-stock came back) but not yet recorded it
 * (others of the page were still failing). The restarted sink passes over them again: those
 * coupons replay, each user is counted granted once, and the counts equal the rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantCoupons, grantView, postGrant, waitGrant } from '../support/grants.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { GrantStore } from '../../issuance/grant-store.ts';
import { homeSubStock, stockKey } from '../../lua/keys.ts';
import { judgeTemplate } from '../../tools/verify/facts.ts';

const env = testEnv({ GRANT_POLL_MS: '100', GRANT_RETRY_MS: '4000' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

/** The sink process that runs grant jobs, always under one consumer name. */
function grantSink(): Proc {
  const p = spawnEntry('sink/main.ts', { ...env, SINK_CONSUMER: 'retry-sink' });
  st.cleanup.push(() => p.stop('SIGKILL'));
  return p;
}

test('kill -9 in the retry pass with coupons issued and not recorded: they replay, counted once', async () => {
  const url = st.gw.url;
  const t = await createTemplate(url, { name: 'kill-retry', type: 'direct', value: 100, totalStock: 4000, subStocks: 4 });
  const ks = { prefix: st.s.cfg.redis.keyPrefix, partitions: st.s.cfg.redis.partitions };
  // Sub-stocks 0 and 1 missing: their users fail the main pass.
  const keys = [stockKey(ks, t.id, 0), stockKey(ks, t.id, 1)];
  const saved = await Promise.all(keys.map((k) => st.s.redis.get(k)));
  await st.s.redis.del(...keys);
  const users = Array.from({ length: 2000 }, (_, i) => `kr${i}`);
  const failing = users.filter((u) => homeSubStock(t.id, u, 4) <= 1).length;
  const r = await postGrant(url, t.id, { userIds: users, ratePerSecond: 4000 });
  const id = r.json.grantId;
  const store = new GrantStore(st.s.mysql, st.s.cfg.mysql);
  let sink = grantSink();
  // The main pass is over: every user decided, those of sub-stocks 0 and 1 failed.
  await waitFor(async () => (await store.get(id))!.lastSeq === users.length - 1, 60_000, 'the main pass to end');
  assert.equal((await grantView(url, id)).failed, failing);
  // Sub-stock 0 comes back: the pass issues to its users, while those of 1 keep its page open.
  await st.s.redis.set(keys[0]!, saved[0]!);
  await waitFor(async () => (await grantCoupons(st.s, t.id, id)).length > (await grantView(url, id)).granted, 30_000,
    'coupons of the retry pass not yet recorded');
  await sink.stop('SIGKILL');
  const cut = await grantView(url, id);
  assert.equal(cut.failed, failing, `the kill landed before the pass recorded anything: ${JSON.stringify(cut)}`);
  await st.s.redis.set(keys[1]!, saved[1]!);
  sink = grantSink();
  const g = await waitGrant(url, id, (x) => x.state !== 'running', 60_000);
  assert.equal(g.state, 'done');
  assert.equal(g.granted, users.length, JSON.stringify(g));
  assert.equal(g.failed, 0);
  await waitFor(() => drained(st.s), 30_000, 'the sinks to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(rows.length, users.length);
  assert.equal(new Set(rows.map((x) => x.userId)).size, users.length, 'no user twice');
  assert.deepEqual((await judgeTemplate(st.s, t.id)).violations, []);
});
