// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * The reconciler's report (issue 9, item 6) on the real Redis, MariaDB and sink: with several
 * templates wrong at once, each by its own amount, every one is named with its own count in a
 * pass's attention lines, in the sink's periodic log (every pass, never rate-limited into a
 * skipped count), and in `npm run reconcile`'s text and JSON; a template whose stock change is in
 * flight says so by name.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { Template } from '../../templates/model.ts';
import { stockChangesKey, stockKey } from '../../lua/keys.ts';
import { createLog } from '../../sink/log.ts';
import { reconcileCtx } from '../../reconcile/context.ts';
import { ReconcileJob } from '../../sink/reconcile-job.ts';
import { reconcileOnce } from '../../reconcile/reconcile.ts';
import { attention } from '../../reconcile/report-lines.ts';
import { startSink } from '../../sink/sink.ts';
import { claimRig, type ClaimRig } from '../support/claims.ts';
import { keySpace, waitFor } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv, drained } from '../../tools/harness/storage.ts';

const env = testEnv({ RECONCILE_RESTART_CHECK_MS: '100', RECONCILE_EVERY_MS: '1000', SINK_BATCH_MAX_WAIT_MS: '20' });
let s: Storage;
let rig: ClaimRig;
const cleanup: (() => Promise<unknown>)[] = [];
/** Templates whose sub-stocks lost coupons MySQL never got, and how many each. */
const wrong: [Template, number][] = [];
let fine: Template;
let inFlight: Template;

before(async () => {
  s = await openStorage(testConfig(env));
  rig = claimRig(s);
  const sink = await startSink(s.cfg, { log: createLog(() => undefined) });
  cleanup.push(() => sink.stop());
  const ks = keySpace(s.cfg);
  // Different amounts, spread over different sub-stocks: each template must get its own number.
  const breaks: [string, number, number[]][] = [['wrong-a', 2, [0, 2]], ['wrong-b', 3, [3, 0, 1]], ['wrong-c', 2, [5, 0]]];
  for (const [id, subStocks, takes] of breaks) {
    const t = await rig.template({ id, totalStock: 12, subStocks });
    for (const [k, n] of takes.entries()) if (n > 0) await s.redis.decrby(stockKey(ks, t.id, k), n);
    wrong.push([t, takes.reduce((a, n) => a + n, 0)]);
  }
  fine = await rig.template({ id: 'fine', totalStock: 12, subStocks: 2 });
  assert.equal((await rig.service.claim({ userId: 'u1', templateId: fine.id })).status, 200);
  // A reduction that took from Redis and is not recorded in MySQL yet: a stock change in flight.
  inFlight = await rig.template({ id: 'in-flight', totalStock: 12, subStocks: 2 });
  await s.redis.hset(stockChangesKey(ks, inFlight.id, 0), 'op-1', -3);
  await s.redis.decrby(stockKey(ks, inFlight.id, 0), 3);
  await waitFor(() => drained(s), 10_000, 'the sink stored the fine claim');
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await s?.close();
});

/** The lines of `lines` that name template `id`. */
const naming = (lines: readonly string[], id: string) => lines.filter((l) => new RegExp(`(^|\\s)${id}:`).test(l));

/** Asserts that `lines` name each wrong template once with its count, the in-flight one as such, and not the fine one. */
function assertNamesEach(lines: readonly string[], what: string): void {
  for (const [t, n] of wrong) {
    const mine = naming(lines, t.id);
    assert.equal(mine.length, 1, `${what}: one line names ${t.id}:\n${lines.join('\n')}`);
    assert.match(mine[0]!, new RegExp(`\\bmissingInMysql=${n}\\b`), `${what}: ${t.id}'s own count`);
  }
  assert.match(naming(lines, inFlight.id)[0] ?? '', /stock change in flight/, `${what}: the in-flight template by name:\n${lines.join('\n')}`);
  assert.deepEqual(naming(lines, fine.id), [], `${what}: the fine template is not named`);
  assert.ok(!lines.some((l) => /skipped/.test(l)), `${what}: nothing rate-limited:\n${lines.join('\n')}`);
}

test('one pass: every wrong template has its own missingInMysql and its own attention line', async () => {
  const r = await reconcileOnce(reconcileCtx(s.cfg, s.redis, s.mysql));
  assert.equal(r.stalled, undefined);
  const byId = new Map(r.counts.map((f) => [f.templateId, f]));
  for (const [t, n] of wrong) {
    assert.equal(byId.get(t.id)?.missingInMysql, n, t.id);
    assert.equal(byId.get(t.id)?.shaved, 0, 'never given back');
  }
  assert.equal(byId.get(fine.id)?.missingInMysql, 0);
  assert.equal(byId.get(inFlight.id)?.changing, true);
  const lines = attention(r);
  for (const [t, n] of wrong) assert.match(naming(lines, t.id)[0] ?? '', new RegExp(`\\bmissingInMysql=${n}\\b`), lines.join('\n'));
  assert.deepEqual(naming(lines, fine.id), []);
});

test("the sink's periodic job logs every wrong template by name with its count, every pass", async () => {
  const lines: string[] = [];
  // Each line's message, and its skipped count should the log have held some back.
  const log = createLog((l) => {
    const r = JSON.parse(l) as { msg: string; skipped?: number };
    lines.push(r.skipped === undefined ? r.msg : `${r.msg} (skipped ${r.skipped})`);
  });
  const job = new ReconcileJob(reconcileCtx(s.cfg, s.redis, s.mysql), 'report-test', log);
  const passes = () => lines.filter((l) => /^reconcile: restarted=/.test(l)).length;
  job.start();
  try {
    await waitFor(async () => passes() >= 2, 20_000, 'two passes');
  } finally {
    await job.stop();
  }
  // Each pass: its summary line and the lines logged after it.
  const starts = lines.flatMap((l, i) => (/^reconcile: restarted=/.test(l) ? [i] : []));
  for (const [n, at] of starts.entries()) assertNamesEach(lines.slice(at, starts[n + 1]), `pass ${n + 1}`);
});

test('npm run reconcile: the JSON has missingInMysql per template, the text names each with its count', async () => {
  const run = promisify(execFile);
  const opts = { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, ...env } };
  const out = async (args: string[]) => {
    try {
      await run('npm', ['run', '--silent', 'reconcile', '--', ...args], opts);
      assert.fail('exit 0, but templates need a person');
    } catch (e) {
      const err = e as { code?: number; stdout?: string };
      assert.equal(err.code, 1, String(e));
      return err.stdout ?? '';
    }
  };
  const report = JSON.parse(await out(['--json'])) as { counts: { templateId: string; missingInMysql: number | null }[]; attention: string[] };
  for (const [t, n] of wrong) {
    assert.equal(report.counts.find((f) => f.templateId === t.id)?.missingInMysql, n, t.id);
    assert.match(naming(report.attention, t.id)[0] ?? '', new RegExp(`\\bmissingInMysql=${n}\\b`));
  }
  assertNamesEach((await out([])).split('\n'), 'text');
});
