/**
 * Every load-test scenario end to end, tiny and bounded, against a real gateway and sink spawned
 * on this file's own prefix: exit 0 after a passing verification, and a report folder with the
 * JSON, both charts (SVG and PNG) and report.html. Then runs that break what a scenario checks must fail loudly (exit 1,
 * VIOLATION): redemptions turned away by a gateway's failure budget, a grant job left undecided,
 * the stock touched after a sell-out, and last a sink that is stopped.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stockKey } from '../../lua/keys.ts';
import { type GatewayProc, type Proc, spawnEntry, spawnGateway } from '../support/processes.ts';
import { keySpace } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
// With user tokens on: every claim and listing of the tool must carry one (loadtest/requests.ts).
// codes sends its used and invalid codes from one address: a failure budget that lets them through.
// checkout's confirms, cancels and refunds carry the order service's token (read from the same env).
const env = testEnv({ USER_TOKEN_SECRETS: 'loadtest-e2e-secret-0123456789abcdef', REDEEM_FAILURE_BURST: '1000000',
  ORDER_SERVICE_TOKEN: 'loadtest-e2e-order-service-token' });
let s: Storage;
let gw: GatewayProc;
let sink: Proc;
let out: string;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  // no reconciler pass during the run: its reads of the sub-stocks would look like claims to
  // the sold-out phase's check, which reads how long the stock keys sat untouched.
  sink = spawnEntry('sink/main.ts', { ...env, RECONCILE_EVERY_MS: '86400000' });
  out = mkdtempSync(join(tmpdir(), 'loadtest-'));
});

after(async () => {
  await gw?.stop();
  await sink?.stop();
  await s?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

/** Runs the CLI on the test's prefix (against the gateway unless args name a --url); resolves with its exit code and output. `onStdout` sees the output so far. */
function loadtest(args: string[], onStdout?: (stdout: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/main.ts', ...args, ...(args.includes('--url') ? [] : ['--url', gw.url]), '--out', out],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    onStdout?.(stdout);
  });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

/** The report folder the run printed, checked for its JSON, both charts (SVG and PNG) and report.html. */
function reportOf(stdout: string): { dir: string; results: any } {
  const dir = /^report: (.+)\/$/m.exec(stdout)?.[1];
  assert.ok(dir && existsSync(dir), `no report folder in:\n${stdout}`);
  assert.ok(readdirSync(out).some((d) => dir.endsWith(d)), 'the folder is under --out');
  for (const chart of ['latency-over-time.svg', 'latency-distribution.svg']) {
    const svg = readFileSync(join(dir, chart), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^]*<path d="M[^]*<\/svg>\n$/, `${chart} is an SVG with a line`);
  }
  for (const chart of ['latency-over-time.png', 'latency-distribution.png']) {
    const png: Buffer = readFileSync(join(dir, chart));
    assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', `${chart} has the PNG signature`);
    assert.ok(png.readUInt32BE(16) > 0 && png.readUInt32BE(20) > 0, `${chart}: IHDR width and height`);
  }
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  for (const p of results.phases) assert.ok(html.includes(`<tr><td>${p.label}</td>`), `report.html has a row for phase ${p.label}`);
  assert.equal((html.match(/<svg /g) ?? []).length, 2, 'report.html inlines both charts');
  assert.match(html, new RegExp(`verification: ${results.verification.ok ? 'OK' : 'FAILED'}`));
  return { dir, results };
}

const SCENARIOS: [string, string[]][] = [
  ['hot', ['--requests', '400', '--connections', '10', '--stock', '50', '--users', '300']],
  ['spread', ['--requests', '400', '--rate', '400', '--connections', '10', '--templates', '40', '--stock', '20', '--users', '300']],
  ['dupes', ['--requests', '480', '--connections', '10', '--users', '20', '--format', 'msgpack']],
  ['soldout', ['--duration', '3', '--connections', '10', '--stock', '30', '--users', '200']],
  ['mixed', ['--duration', '1', '--rate', '300', '--connections', '10', '--templates', '3', '--users', '50', '--format', 'msgpack']],
  ['batch', ['--requests', '200', '--connections', '10', '--templates', '4', '--stock', '30', '--users', '50']],
  ['packets', ['--requests', '400', '--connections', '10', '--stock', '50', '--users', '300']],
  ['codes', ['--requests', '400', '--connections', '10', '--stock', '40', '--users', '20', '--format', 'msgpack']],
  ['grant', ['--duration', '2', '--connections', '10', '--stock', '60', '--users', '50']],
  ['checkout', ['--requests', '600', '--connections', '10', '--templates', '3', '--stock', '40', '--users', '40']],
];

for (const [scenario, args] of SCENARIOS) {
  test(`${scenario}: a tiny run verifies and leaves a report`, async () => {
    const r = await loadtest([scenario, ...args]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^verification: OK$/m);
    const { dir, results } = reportOf(r.stdout);
    assert.equal(results.scenario, scenario);
    assert.equal(results.verification.ok, true);
    const claims = results.phases.reduce((n: number, p: any) => n + ((p.kinds.claim ?? p.kinds.batch ?? p.kinds.redeem)?.latency.count ?? 0), 0);
    assert.ok(claims > 0, 'claims were answered');
    assert.ok(results.verification.totals.rows > 0, 'coupons reached MySQL');
    assert.equal(results.verification.totals.rows, results.verification.totals.issued);
    for (const t of results.templates) {
      const paused = await s.mysql.main.query(`SELECT status FROM \`${env.DB_PREFIX}_main\`.coupon_template WHERE id = ?`, [t.id]);
      assert.equal((paused[0] as { status: string }[])[0]?.status, 'paused', `template ${t.id} paused after the run`);
    }
    if (scenario === 'hot' || scenario === 'packets') assert.equal(results.verification.totals.issued, 50, 'the rain took the whole stock');
    if (scenario === 'dupes') assert.ok(results.verification.totals.replays > 0);
    if (scenario === 'soldout') {
      // answered from memory: sold_out, or rate_limited by the gateway's global bucket (before any Redis call).
      const statuses = results.phases.at(-1).statuses;
      assert.ok(statuses['410'] > 0 && Object.keys(statuses).every((c) => c === '410' || c === '429'), JSON.stringify(statuses));
    }
    if (scenario === 'batch') {
      assert.equal(results.verification.totals.issued, 120, 'four templates of 30, each sold out by the batches');
      assert.ok(results.verification.totals.replays > 0, 'the retried batches replayed');
    }
    if (scenario === 'packets') {
      // the told amounts of the 50 packets share the budget (100 cents a packet) exactly
      const told = readFileSync(join(dir, 'answers.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const first = told.filter((a) => !a.replayed);
      assert.deepEqual([first.length, first.reduce((n: number, a: any) => n + a.amount, 0)], [50, 5000]);
    }
    if (scenario === 'codes') {
      const c = results.checks.codes;
      assert.equal(c.codes, 40);
      assert.ok(c.invalid['404'] > 0 && Object.keys(c.invalid).every((s: string) => s === '404'), JSON.stringify(c.invalid));
      assert.equal(c.tooManyFailures, 0);
      assert.ok(results.verification.totals.replays > 0, 'double clicks and repeats replayed');
      const statuses = results.phases[0].statuses;
      assert.ok(statuses['409'] > 0, `codes were contested (code_used): ${JSON.stringify(statuses)}`);
    }
    if (scenario === 'grant') {
      const g = results.checks.grant;
      assert.equal(g.listed, 50);
      assert.equal(g.job.state, 'done');
      assert.ok(g.job.granted > 0, 'the job granted');
      assert.equal(results.verification.totals.granted, g.job.granted, 'its coupons are in MySQL');
      // 50 listed + 50 in the rain (5 in both) want 95 coupons of 60: the stock runs out.
      assert.equal(results.verification.totals.issued, 60);
      assert.ok(results.verification.totals.told > g.job.granted, 'the rain got coupons too');
      assert.ok(g.job.refused.limit_reached > 0, `users in both: the job refused those the rain served first: ${JSON.stringify(g.job)}`);
    }
    if (scenario === 'checkout') {
      const t = results.checks.checkout.tallies;
      assert.ok(t.confirms > 0 && t.cancels > 0 && t.refunds > 0 && t.retries > 0, JSON.stringify(t));
      assert.equal(t.locksWon, t.confirms + t.cancels + t.stillLocked);
      const orders = results.phases.at(-1);
      assert.equal(orders.driver, 'flows');
      for (const kind of ['quote', 'lock', 'confirm', 'cancel', 'refund']) assert.ok(orders.kinds[kind]?.statuses['200'] > 0, `${kind} answered 200`);
      assert.equal(results.verification.totals.issued, 120, 'each of the 40 users claimed each of the 3 templates');
    }
    if (scenario === 'mixed') assert.ok(results.phases[0].kinds.list.latency.count > 0, 'listings were sent');
    if (scenario === 'spread' || scenario === 'mixed') assert.equal(results.phases[0].driver, 'open-loop');
  });
}

test('codes fails when the gateway\'s failure budget turns redemptions into 429', async () => {
  // a gateway on the same storage whose budget is far below the run's used and invalid codes;
  // the run itself reads the env of the e2e gateway, so it starts, and only the verifier can tell.
  const tight = await spawnGateway({ ...env, REDEEM_FAILURE_BURST: '5', REDEEM_FAILURES_PER_MINUTE: '1' });
  try {
    const r = await loadtest(['codes', '--requests', '200', '--connections', '10', '--stock', '20', '--users', '10', '--url', tight.url]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^VIOLATION scenario \[lt-[0-9a-f]{6}-0\]: \d+ redemptions were refused 429 too_many_failures/m);
    assert.doesNotMatch(r.stdout, /^VIOLATION (code_reused|invalid_code|over_issue|over_limit)/m, 'a 429 issued nothing');
  } finally {
    await tight.stop();
  }
});

test('grant fails when its job cannot finish: listed users left undecided', async () => {
  // 3,000 users at the default 1,000/s, and 1 s to wait: the run cancels the job part way.
  const r = await loadtest(['grant', '--requests', '100', '--connections', '5', '--users', '3000', '--stock', '10000', '--drain-wait', '1']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^grant \S+ still running after 1 s \(--drain-wait\): cancelling it$/m);
  assert.match(r.stdout, /^VIOLATION grant \[lt-[0-9a-f]{6}-0\]: grant \S+: the job ended cancelled, not done/m);
  assert.match(r.stdout, /^VIOLATION grant \[lt-[0-9a-f]{6}-0\]: grant \S+: \d+ listed users neither hold a coupon of the grant nor are refused/m);
});

test('soldout fails when something touches the stock during the sold-out phase', async () => {
  // What a claim script would do to the sub-stock: read it, once, mid-phase.
  let touched: Promise<unknown> | undefined;
  const r = await loadtest(['soldout', '--duration', '4', '--connections', '5', '--stock', '10', '--users', '50'], (stdout) => {
    const id = /creating 1 template (lt-[0-9a-f]{6}-)\*/.exec(stdout)?.[1];
    if (!id || touched || !/^phase after sell-out/m.test(stdout)) return;
    touched = new Promise((r) => setTimeout(r, 2_500)).then(() => s.redis.get(stockKey(keySpace(s.cfg), `${id}0`, 0)));
  });
  assert.ok(await touched !== null, 'the stock key was read');
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^VIOLATION not_from_memory: sub-stock 0 was touched \d s into the \d s the sold-out phase lasted/m);
});

test('a run whose coupons never reach MySQL fails loudly', async () => {
  await sink.stop();
  const r = await loadtest(['hot', '--requests', '100', '--connections', '5', '--stock', '20', '--drain-wait', '1']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^VIOLATION not_drained: the sink did not store ([1-9]|1\d|20) stream entries/m);
  assert.match(r.stdout, /^VIOLATION issued_missing \[lt-[0-9a-f]{6}-0\]: .*coupon /m);
  assert.match(r.stdout, /^verification: FAILED/m);
  assert.equal(reportOf(r.stdout).results.verification.ok, false);
});
