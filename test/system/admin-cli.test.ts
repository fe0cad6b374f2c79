// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * `npm run admin`: every templates action against a real gateway, as tables and as --json; the
 * API's error and exit 1 on a wrong token; exit 2 with the usage on a bad flag; and `--help` of
 * every command line of the project exits 0 with its usage.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { ROOT } from '../../tools/harness/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;
let gw: GatewayProc;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
});
after(async () => {
  await gw?.stop();
  await s?.close();
});

interface Run { code: number; stdout: string; stderr: string }

/** Runs an entry point with the test's env (ADMIN_URL: the gateway); resolves with its exit code and output. */
function run(entry: string, args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', entry, ...args],
      { cwd: ROOT, env: { ...process.env, ...env, ADMIN_URL: gw.url, ...extra }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}
const admin = (...args: string[]) => run('cli/admin.ts', args);
const json = (r: Run) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

test('create (flags and --file), list, show, pause, resume, topup (replayed), stats', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'admin-cli-')), 'template.json');
  writeFileSync(file, JSON.stringify({ id: 'cli-file', name: 'from a file', type: 'threshold', value: 300, threshold: 2000, totalStock: 5 }));
  const [flags, fromFile] = await Promise.all([
    admin('templates', 'create', '--id', 'cli-flags', '--name', '5 off', '--type', 'direct', '--value', '500', '--total-stock', '10',
      '--per-user-limit', '2', '--valid-days', '7', '--stackable', '--scope-categories', 'shoes,bags'),
    admin('templates', 'create', '--file', file, '--json'),
  ]);
  assert.equal(flags.code, 0, flags.stderr);
  assert.match(flags.stdout, /^created cli-flags/);
  assert.match(flags.stdout, /categories\s+shoes,bags/);
  const made = JSON.parse(fromFile.stdout);
  assert.deepEqual([made.id, made.type, made.threshold, made.totalStock], ['cli-file', 'threshold', 2000, 5]);

  const [table, listed, shown] = await Promise.all([
    admin('templates', 'list'), admin('templates', 'list', '--json'), admin('templates', 'show', 'cli-flags', '--json'),
  ]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+NAME\s+TYPE/);
  assert.match(table.stdout, /\ncli-file\s+from a file\s+threshold\s+3\.00 off over 20\.00\s+5\s+1\s+active/);
  assert.match(table.stdout, /\ncli-flags\s+5 off\s+direct\s+5\.00 off\s+10\s+2\s+active/);
  assert.deepEqual(json(listed).templates.map((t: { id: string }) => t.id), ['cli-file', 'cli-flags']);
  const t = json(shown);
  assert.deepEqual([t.perUserLimit, t.validDays, t.stackable, t.scope.categories, t.stock.remaining], [2, 7, true, ['shoes', 'bags'], 10]);

  const paused = await admin('templates', 'pause', 'cli-flags');
  assert.equal(paused.code, 0, paused.stderr);
  assert.match(paused.stdout, /^cli-flags: paused \(version 2\)/);
  const onlyPaused = json(await admin('templates', 'list', '--status', 'paused', '--json'));
  assert.deepEqual(onlyPaused.templates.map((x: { id: string }) => x.id), ['cli-flags']);
  assert.equal(json(await admin('templates', 'resume', 'cli-flags', '--json')).status, 'active');

  const topup = await admin('templates', 'topup', 'cli-flags', '5');
  assert.equal(topup.code, 0, topup.stderr);
  const requestId = /request id (\S+) \(to retry: --request-id \1\)/.exec(topup.stderr)?.[1];
  assert.ok(requestId, topup.stderr);
  assert.match(topup.stdout, /added\s+5\n/);
  assert.match(topup.stdout, /remaining\s+15\n/);
  const again = json(await admin('templates', 'topup', 'cli-flags', '5', '--request-id', requestId, '--json'));
  assert.deepEqual([again.replayed, again.added, again.stock.total], [true, 5, 15]);

  const [stats, statsJson] = await Promise.all([admin('templates', 'stats', 'cli-flags'), admin('templates', 'stats', 'cli-flags', '--json')]);
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /remaining\s+15\n/);
  assert.match(stats.stdout, /rejected sold_out\s+0/);
  assert.deepEqual([json(statsJson).templateId, json(statsJson).total], ['cli-flags', 15]);
});

test('errors: the API\'s answer and exit 1; usage errors exit 2 with the usage', async () => {
  const [token, missing, flag, nothing, down] = await Promise.all([
    run('cli/admin.ts', ['templates', 'list'], { ADMIN_TOKEN: 'not-the-admin-token' }),
    admin('templates', 'show', 'no-such-template'),
    admin('templates', 'list', '--bogus'),
    admin('templates', 'create'),
    run('cli/admin.ts', ['templates', 'list'], { ADMIN_URL: 'http://127.0.0.1:9' }),
  ]);
  assert.equal(token.code, 1);
  assert.match(token.stderr, /^admin: 401 unauthorized/);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^admin: 404 template_not_found/);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^admin: unknown option '--bogus'\n[\s\S]*usage: npm run admin -- templates list/);
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /give the template as flags/);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^admin: cannot reach the admin API at http:\/\/127\.0\.0\.1:9/);
  for (const r of [token, missing, flag, down]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('--help of every command line exits 0 and prints its usage', async () => {
  const entries: [string, string[], RegExp][] = [
    ['cli/admin.ts', ['--help'], /^usage: npm run admin -- /],
    ['cli/admin.ts', ['templates', 'topup', '--help'], /^usage: npm run admin -- templates topup \[options\] <id> <add>/],
    ['cli/grant.ts', ['--help'], /^usage: npm run grant -- /],
    ['cli/rebuild.ts', ['--help'], /^usage: npm run rebuild -- /],
    ['cli/reconcile.ts', ['--help'], /^usage: npm run reconcile -- /],
    ['cli/reminders.ts', ['--help'], /^usage: npm run reminders -- /],
    ['cli/user-token.ts', ['--help'], /^usage: npm run user-token -- /],
    ['cli/config.ts', ['--help'], /^usage: npm run config -- /],
    ['loadtest/main.ts', ['--help'], /^usage: npm run loadtest -- /],
    ['capacity/main.ts', ['--help'], /^usage: npm run capacity -- /],
    ['capacity/main.ts', ['plan', '--help'], /^usage: npm run capacity -- plan /],
  ];
  const runs = await Promise.all(entries.map(([entry, args]) => run(entry, args)));
  runs.forEach((r, i) => {
    const [entry, args, usage] = entries[i]!;
    assert.equal(r.code, 0, `${entry} ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, usage, `${entry} ${args.join(' ')}`);
  });
});
