/**
 * `npm run grant -- --template ID --file users.txt [--rate N] [--url URL]`: starts a bulk grant
 * of a template to the users of a file (one id a line, streamed to the gateway's admin API as
 * text/plain, any size up to 10M lines) and shows its progress until the job ends. Exit 0 when
 * it is done, 1 when it was cancelled or failed, 2 when it could not start (bad arguments, a
 * refused list: the gateway's message names the bad line). Ctrl-C stops watching only: the job
 * goes on in the sink (`GET /v1/admin/grants/<id>`).
 */
import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/index.ts';
import { cliProgram } from './command-line.ts';
import { progressBar } from './progress.ts';
import { initLog } from '../core/log.ts';

// typed: program.error() then ends control flow for the compiler.
const program: Command = cliProgram('grant', 'Grants a template to every user of a file (one id a line) and shows the job\'s progress.')
  .requiredOption('--template <id>', 'the template to grant')
  .requiredOption('--file <users.txt>', 'the users, one id a line (up to 10M lines, streamed)')
  .option('--rate <n>', 'users per second (default: GRANT_RATE_DEFAULT)', (raw) => {
    if (!/^\d+$/.test(raw)) throw new InvalidArgumentError('a positive integer (users per second)');
    return raw;
  })
  .option('--url <origin>', 'the admin API (default: the gateway of this configuration)')
  .parse();
const args = program.opts<{ template: string; file: string; rate?: string; url?: string }>();

/** Exit 2 with the message: the job could not start. */
function fail(msg: string): never {
  console.error(`grant: ${msg}`);
  process.exit(2);
}

const cfg = loadConfig();
initLog('grant', cfg.log.level);
// The admin API: on the admin listener when the gateway serves it apart (ADMIN_ROUTES=separate).
const base = args.url ?? (cfg.admin.routes === 'separate' ? `http://${cfg.admin.host}:${cfg.admin.port}` : `http://127.0.0.1:${cfg.http.port}`);
const auth = { authorization: `Bearer ${cfg.adminToken}` };

/** One admin request; the file is streamed when given. */
function call(method: string, path: string, file?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...auth };
    if (file) headers['content-type'] = 'text/plain; charset=utf-8';
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = { error: text }; }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (file) createReadStream(file).on('error', reject).pipe(req);
    else req.end();
  });
}

/** Users decided (granted, refused or failed) and the refusals, of a job's status. */
function decided(g: any): { decided: number; refused: number } {
  const refused = Object.values(g.refused as Record<string, number>).reduce((a, b) => a + b, 0);
  return { decided: g.granted + refused + g.failed, refused };
}

/** One progress line, for a log or a pipe: a bar, the counts and the state. */
function line(g: any): string {
  const { decided: done, refused } = decided(g);
  const share = g.total === 0 ? 1 : done / g.total;
  const width = 30;
  const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
  return `[${bar}] ${(share * 100).toFixed(1).padStart(5)}% ${done}/${g.total} granted=${g.granted} refused=${refused} failed=${g.failed} ${g.state}`;
}

let size: number;
try {
  size = statSync(args.file).size;
} catch (err) {
  program.error(`cannot read ${args.file}: ${(err as Error).message}`);
}
const query = args.rate ? `?ratePerSecond=${args.rate}` : '';
console.error(`grant: uploading ${args.file} (${size} bytes) to ${base} for template ${args.template}`);
let started;
try {
  started = await call('POST', `/v1/admin/templates/${encodeURIComponent(args.template)}/grants${query}`, args.file);
} catch (err) {
  fail(`cannot reach the gateway at ${base}: ${(err as Error).message}`);
}
if (started.status !== 202) fail(`${started.status} ${started.json.error}${started.json.message ? `: ${started.json.message}` : ''}`);
const { grantId, total } = started.json as { grantId: string; total: number };
console.error(`grant: ${grantId} started for ${total} distinct users`);
// On a terminal the shared bar; otherwise a line every 5 s, and the last one always.
const bar = progressBar('grant', total, 'users');
process.on('SIGINT', () => {
  bar.stop();
  console.error(`\ngrant: stopped watching; the job goes on (GET ${base}/v1/admin/grants/${grantId})`);
  process.exit(130);
});

let lastPrinted = 0;
for (;;) {
  let g: any;
  try {
    const r = await call('GET', `/v1/admin/grants/${grantId}`);
    g = r.status === 200 ? r.json : undefined;
  } catch {
    g = undefined;
  }
  const finished = g && ['done', 'cancelled', 'failed'].includes(g.state);
  if (g) {
    const d = decided(g);
    bar.update(d.decided, { total: g.total, detail: `granted=${g.granted} refused=${d.refused} failed=${g.failed} ${g.state}` });
  }
  if (g && (finished || (!bar.shown && Date.now() - lastPrinted >= 5_000))) {
    bar.stop();
    process.stdout.write(`${line(g)}\n`);
    lastPrinted = Date.now();
  }
  if (finished) {
    if (g.note) console.error(`grant: ${g.note}`);
    process.exit(g.state === 'done' ? 0 : 1);
  }
  await sleep(500);
}
