// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/** `npm run grant`: streams a file to the admin API, shows progress, and exits 0 when the job is done, 2 when the list is refused. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTemplate } from '../support/http.ts';
import { grantView, runGrantJobs } from '../support/grants.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { ROOT } from '../../tools/harness/processes.ts';
import { testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ GRANT_POLL_MS: '100' });
let st: Stack;
const dir = mkdtempSync(join(tmpdir(), 'grant-cli-'));

before(async () => {
  st = await openStack(env);
  st.cleanup.push(runGrantJobs(st.s));
});
after(() => st?.close());

/** Runs the CLI; resolves with its exit code and output. */
function grantCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/grant.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

test('a file of users is granted, with progress lines, exit 0; a bad line exits 2 naming it', async () => {
  const t = await createTemplate(st.gw.url, { name: 'cli', type: 'direct', value: 100, totalStock: 500 });
  const file = join(dir, 'users.txt');
  writeFileSync(file, Array.from({ length: 800 }, (_, i) => `c${i}`).join('\n') + '\n');
  const ok = await grantCli(['--template', t.id, '--file', file, '--rate', '5000', '--url', st.gw.url]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /100\.0% 800\/800 granted=500 refused=300 failed=0 done/);
  const id = /grant: (\S+) started for 800 distinct users/.exec(ok.stderr)?.[1];
  assert.ok(id, ok.stderr);
  assert.equal((await grantView(st.gw.url, id)).ratePerSecond, 5000);
  writeFileSync(file, 'a\nb c\n');
  const bad = await grantCli(['--template', t.id, '--file', file, '--url', st.gw.url]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /400 bad_request: line 2/);
  const usage = await grantCli(['--file', file]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: npm run grant/);
});

test('a bad line early in a big file: the gateway answers before the file is sent, and the CLI shows that answer', async () => {
  const t = await createTemplate(st.gw.url, { name: 'cli-big', type: 'direct', value: 100, totalStock: 10 });
  const file = join(dir, 'big.txt');
  // ~30 MB after the bad line: the gateway answers and closes while the CLI is still writing.
  writeFileSync(file, `a\nb c\n${Array.from({ length: 3_000_000 }, (_, i) => `big${i}`).join('\n')}\n`);
  const bad = await grantCli(['--template', t.id, '--file', file, '--url', st.gw.url]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /400 bad_request: line 2/);
});
