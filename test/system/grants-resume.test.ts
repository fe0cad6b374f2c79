/**
 * A job resumed after a crash, with its chunk size changed meanwhile: the chunk the dead run had
 * in hand (its claims issued, its commit lost) may be longer than the resumed run's first chunk.
 * Every user of it must still be decided as a re-run (a stored answer first), even once the rest
 * would be refused without Redis (the window ended): a user granted before the crash is counted
 * granted, never `ended`, and the counts equal the rows.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { grantCoupons, postGrant, runGrantJobs, waitGrant } from '../support/grants.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { drained, testEnv } from '../../tools/harness/storage.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { grantRunDeps } from '../../sink/grant-jobs.ts';
import { decideChunk } from '../../sink/grant-chunk.ts';
import { emptyMarks } from '../../issuance/sub-stocks.ts';
import { hash32 } from '../../core/shards.ts';
import { homePrefix } from '../../lua/keys.ts';

const env = testEnv({ GRANT_POLL_MS: '100' });
let st: Stack;

before(async () => { st = await openStack(env); });
after(() => st?.close());

test('a crashed chunk longer than the resumed chunks: its users replay as granted after the window ends', async () => {
  const url = st.gw.url;
  const claimEnd = Date.now() + 3_000;
  const t = await createTemplate(url, { name: 'resume', type: 'direct', value: 100, totalStock: 1000, claimEnd: new Date(claimEnd).toISOString() });
  const users = Array.from({ length: 300 }, (_, i) => `r${i}`);
  const r = await postGrant(url, t.id, { userIds: users, ratePerSecond: 1000 });
  assert.equal(r.status, 202);
  const id = r.json.grantId;
  // The run that dies: it decides its whole chunk (300 users at 1,000/s) in Redis, then is killed before its commit.
  const rc = reconcileCtx(st.s.cfg, st.s.redis, st.s.mysql);
  const d = grantRunDeps(st.s.cfg, rc, st.s.mysql);
  const tpl = (await d.template(t.id))!;
  const jt = { t: tpl, ...emptyMarks(tpl.subStocks), audience: null, idHash: hash32(tpl.id), homePrefix: homePrefix(tpl.id) };
  const chunk = await d.grants.next(id, -1, 500);
  assert.equal(chunk.length, users.length);
  const dead = await decideChunk(d, jt, id, chunk, false);
  assert.equal(dead.tally.granted, users.length);
  // Meanwhile the operator slows the job (chunks of 20 users) and the window ends.
  assert.equal((await http('PATCH', `${url}/v1/admin/grants/${id}`, { ratePerSecond: 40 }, ADMIN)).status, 200);
  await new Promise((res) => setTimeout(res, Math.max(0, claimEnd - Date.now() + 100)));
  st.cleanup.push(runGrantJobs(st.s));
  const g = await waitGrant(url, id, (x) => x.state === 'done', 30_000);
  await waitFor(() => drained(st.s), 20_000, 'the sink to drain');
  const rows = await grantCoupons(st.s, t.id, id);
  assert.equal(rows.length, users.length);
  assert.equal(g.granted, rows.length, `counted ${JSON.stringify(g)} for ${rows.length} coupons`);
  assert.equal(g.refused.ended, 0);
});
