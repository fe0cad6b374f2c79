// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * `npm run config` as a process: the table and --json of a good environment (secrets hidden),
 * exit 1 with every bad variable of a bad one, --markdown the README's table, exit 2 on a bad flag.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { markdownTable } from '../../config/table.ts';
import { ROOT } from '../../tools/harness/processes.ts';

interface Run { code: number; stdout: string; stderr: string }

/** Runs `cmd args` in the repository with this process's env plus `extra`. */
function run(cmd: string, args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env: { ...process.env, ...extra }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}
const config = (args: string[], extra: Record<string, string> = {}) => run(process.execPath, ['--import', 'tsx', 'cli/config.ts', ...args], extra);

test('npm run config prints every setting with its source; secrets stay hidden', async () => {
  const r = await run('npm', ['run', '-s', 'config'], { ADMIN_TOKEN: 'admin-token-for-config-test', SINK_BATCH_MAX_ROWS: '1234' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^variable +value +source +description$/m);
  assert.match(r.stdout, /^SINK_BATCH_MAX_ROWS +1234 +env +a batch is split/m);
  assert.match(r.stdout, /^SINK_RETRY_MAX_MS +5000 +default +cap of the exponential backoff/m);
  assert.match(r.stdout, /^ADMIN_TOKEN +<hidden> +env /m);
  assert.ok(!r.stdout.includes('admin-token-for-config-test'));
});

test('--json gives one row per setting, typed values, secrets hidden', async () => {
  const r = await config(['--json'], { APP_ENV: 'production', CODE_SECRET: 's'.repeat(32), MYSQL_URL: 'mysql://app:pw-config@db:3306' });
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; value: unknown; source: string; default: string }[];
  const row = (name: string) => rows.find((x) => x.name === name)!;
  assert.deepEqual([row('CODE_SECRET').value, row('CODE_SECRET').source], ['<hidden>', 'env']);
  assert.equal(row('MYSQL_URL').value, 'mysql://app:***@db:3306');
  assert.deepEqual([row('SHUTDOWN_READY_DELAY_MS').value, row('SHUTDOWN_READY_DELAY_MS').source], [5000, 'default']);
  assert.equal(row('METRICS_ENABLED').value, true);
  assert.ok(!r.stdout.includes('s'.repeat(32)) && !r.stdout.includes('pw-config'));
});

test('a bad environment exits 1 naming every bad variable', async () => {
  const r = await config([], { PORT: 'eighty', SINK_BATCH_MAX_ROW: '100', ADMIN_TOKEN: 'short' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /config: 3 bad variables:/);
  assert.match(r.stderr, /PORT="eighty": not an integer/);
  assert.match(r.stderr, /ADMIN_TOKEN="<hidden>": must be at least 12 characters/);
  assert.match(r.stderr, /SINK_BATCH_MAX_ROW="<hidden>": not a setting: did you mean SINK_BATCH_MAX_ROWS\?/);
});

test('--markdown prints the README table; a bad flag is a usage error', async () => {
  const md = await config(['--markdown']);
  assert.equal(md.code, 0, md.stderr);
  assert.equal(md.stdout, `${markdownTable()}\n`);
  const bad = await config(['--yaml']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option '--yaml'/);
});
