/**
 * Bulk grants (issue 12): a grant of `--grant-users` users (1,000,000 by default) streamed to
 * the real gateway as text/plain and run by the real sink, unthrottled (the rate set far above
 * what the box does), measured from the 202 to the job's end: grants/s and CPU µs per grant of
 * each process from /proc. Beside it, in the same run and on the same stack, a short claim load
 * (autocannon, as section 1) for the claim rate and its CPU per claim. Then every grant row is
 * judged by the oracle. A job still running at `--grant-seconds` is cancelled and the figures
 * are those of the part done (the report says so).
 */
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter } from '../tools/harness/cpu.ts';
import { runAutocannon, type LoadResult } from '../tools/harness/http-load.ts';
import { spawnNode, waitForLog } from '../tools/harness/processes.ts';
import { drained } from '../tools/harness/storage.ts';
import { benchConfig, childEnv, openBenchStorage, serverFacts, waitUntil, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import { judgeTemplate } from '../tools/verify/facts.ts';
import type { BenchOptions } from './options.ts';

export interface GrantBenchResult {
  readonly users: number;
  readonly uploadS: number;
  readonly runS: number;
  readonly granted: number;
  readonly state: string;
  readonly cpuGrant: CpuShare[];
  readonly claim: LoadResult;
  readonly cpuClaim: CpuShare[];
  readonly rows: number;
  readonly violations: readonly string[];
  readonly servers: { redisVersion: string; mariadbVersion: string };
  readonly failures: string[];
}

// The guards off, as in section 1: the bench measures the path. The grant's rate is far above
// the box; its backlog bound stays the product's default (it is part of the path).
const LIMITS = { ...GUARDS_OFF, GRANT_POLL_MS: '100', GRANT_RATE_DEFAULT: '1000000' };
const CLAIM_USERS_PER_CONNECTION = 1000;

/** The users `b0` .. `b<n-1>`, one a line, generated as the upload reads them. */
function userLines(n: number): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= n) return void this.push(null);
      const end = Math.min(n, i + 10_000);
      let s = '';
      for (; i < end; i++) s += `b${i}\n`;
      this.push(s);
    },
  });
}

/** POSTs the generated list as a streamed text/plain body; resolves with the answer. */
function upload(base: string, templateId: string, token: string, users: number): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/admin/templates/${templateId}/grants`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
    });
    req.on('error', reject);
    userLines(users).pipe(req);
  });
}

/** Runs the grant section. */
export async function runGrantBench(o: BenchOptions): Promise<GrantBenchResult> {
  const failures: string[] = [];
  const cfg = benchConfig('grant', LIMITS);
  const st = await openBenchStorage(cfg);
  onCleanup('grant storage', () => st.cleanup());
  const facts = await serverFacts(st);
  const sink = spawnNode('sink', 'sink/main.ts', childEnv(cfg, LIMITS));
  onCleanup('sink', () => sink.stop(15_000));
  await waitForLog(sink, 'running', 30_000);
  const gateway = spawnNode('gateway', 'gateway/main.ts', childEnv(cfg, LIMITS));
  onCleanup('gateway', () => gateway.stop(15_000));
  const base = `http://127.0.0.1:${(await waitForLog(gateway, 'gateway listening', 30_000)).port}`;
  const auth = { authorization: `Bearer ${cfg.adminToken}`, 'content-type': 'application/json' };
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<any>;
  };
  const users = o.grantUsers;
  const grantT = await admin('POST', '/v1/admin/templates', { name: 'grant-bench', type: 'direct', value: 100, totalStock: users });
  const claimT = await admin('POST', '/v1/admin/templates', { name: 'claim-bench', type: 'direct', value: 100, totalStock: 5_000_000, perUserLimit: 100 });
  const servers = { gateway: { tree: gateway.proc.pid }, redis: facts.redisPid, sink: sink.proc.pid, mariadb: facts.mariadbPid };

  console.log(`grant: uploading ${users} users (text/plain, streamed)`);
  const t0 = performance.now();
  const up = await upload(base, grantT.id, cfg.adminToken, users);
  const uploadS = (performance.now() - t0) / 1000;
  if (up.status !== 202) throw new Error(`grant upload: ${up.status} ${JSON.stringify(up.body)}`);
  console.log(`grant: ${up.body.total} users stored in ${uploadS.toFixed(1)} s; job ${up.body.grantId} running`);
  const m = cpuMeter(servers);
  const t1 = performance.now();
  let g: any;
  for (let last = 0; ; await sleep(500)) {
    g = await admin('GET', `/v1/admin/grants/${up.body.grantId}`);
    if (['done', 'cancelled', 'failed'].includes(g.state)) break;
    if (performance.now() - t1 > o.grantSeconds * 1000) {
      console.log(`grant: still running after ${o.grantSeconds} s; cancelled (the figures are those of the part done)`);
      await admin('PATCH', `/v1/admin/grants/${up.body.grantId}`, { state: 'cancelled' });
      await sleep(1_000);
      g = await admin('GET', `/v1/admin/grants/${up.body.grantId}`);
      break;
    }
    if (performance.now() - last > 10_000) {
      last = performance.now();
      console.log(`grant: ${g.granted} granted after ${((last - t1) / 1000).toFixed(0)} s`);
    }
  }
  const runS = (performance.now() - t1) / 1000;
  const cpuGrant = m.finish();
  console.log(`grant: ${g.state}, ${g.granted} granted in ${runS.toFixed(1)} s (${Math.round(g.granted / runS)}/s)`);
  if (g.state === 'failed' || g.failed > 0) failures.push(`grant: job ${g.state} with ${g.failed} failed users`);

  // The claim rate of the same stack, right after (the grant's records drained first).
  await waitUntil(() => drained(st), 120_000);
  if (o.warmupS > 0) await runAutocannon({ label: 'claim warm-up', url: `${base}/v1/claim`, path: '/v1/claim', templateId: claimT.id,
    connections: o.connections, durationS: o.warmupS, usersPerConnection: CLAIM_USERS_PER_CONNECTION });
  const mc = cpuMeter(servers);
  const claim = await runAutocannon({ label: 'claim', url: `${base}/v1/claim`, path: '/v1/claim', templateId: claimT.id,
    connections: o.connections, durationS: o.durationS, usersPerConnection: CLAIM_USERS_PER_CONNECTION });
  const cpuClaim = mc.finish();

  if (!(await waitUntil(() => drained(st), 120_000))) failures.push('grant: the sink did not drain within 120 s');
  const v = await judgeTemplate(st, grantT.id);
  const rows = v.templates[0]!.rows;
  if (rows !== g.granted) failures.push(`grant: the job counts ${g.granted} granted, MySQL holds ${rows} rows`);
  const violations = v.violations.map((x) => `${x.kind}: ${x.detail}`);
  if (violations.length > 0) failures.push(`grant: ${violations.slice(0, 3).join('; ')}`);
  return { users, uploadS, runS, granted: g.granted, state: g.state, cpuGrant, claim, cpuClaim, rows, violations, servers: facts, failures };
}

const fix = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');

/** The section's Markdown. */
export function renderGrant(r: GrantBenchResult): string {
  const per = (cpu: CpuShare[], name: string, n: number) => fix(((cpu.find((c) => c.name === name)?.cpuS ?? NaN) / n) * 1e6);
  const cores = (cpu: CpuShare[], name: string) => fix(cpu.find((c) => c.name === name)?.cores ?? NaN, 2);
  const names = ['gateway', 'redis', 'sink', 'mariadb'];
  const claims = r.claim.ok2xx;
  return [
    '## Bulk grants (issue 12)', '',
    `${int(r.users)} users uploaded as streamed text in ${fix(r.uploadS)} s (${int(r.users / r.uploadS)} lines/s); the job ended ` +
      `**${r.state}** with ${int(r.granted)} granted in ${fix(r.runS)} s: **${int(r.granted / r.runS)} grants/s**. ` +
      `Claims on the same stack right after: **${int(claims / r.claim.seconds)} claims/s** (autocannon, p99 ${fix(r.claim.p99Ms, 2)} ms).`,
    '', '| process | CPU µs per grant | cores during the grant | CPU µs per claim | cores during the claims |', '|---|---:|---:|---:|---:|',
    ...names.map((n) => `| ${n} | ${per(r.cpuGrant, n, r.granted)} | ${cores(r.cpuGrant, n)} | ${per(r.cpuClaim, n, claims)} | ${cores(r.cpuClaim, n)} |`),
    '', `MySQL rows of the grant: ${int(r.rows)}; oracle: ${r.violations.length === 0 ? 'no violation' : r.violations.join('; ')}.`,
  ].join('\n');
}
