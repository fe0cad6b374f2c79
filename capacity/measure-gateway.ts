/**
 * Calibration, gateway and sink: the real gateway (group commit and all) and sink as child
 * processes on their own prefix, autocannon issuing claims for a few seconds. Claims per gateway
 * CPU-second (from /proc); the group size the gateway reached (claims per claim-home call: each
 * call appends one stream entry); rows per sink CPU-second (metered until the sink has stored
 * every coupon of the run). Ends with the check that MySQL holds exactly the coupons the
 * gateway issued.
 */
import { onCleanup } from '../tools/harness/cleanup.ts';
import { cpuMeter } from '../tools/harness/cpu.ts';
import { runAutocannon } from '../tools/harness/http-load.ts';
import { spawnNode, waitForLog } from '../tools/harness/processes.ts';
import { commandMeter } from '../tools/harness/redis-stats.ts';
import { type BenchStorage, childEnv, waitUntil, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import { judgeTemplate } from '../tools/verify/facts.ts';
import { drained } from '../tools/harness/storage.ts';
import { allStreamKeys, type KeySpace } from '../lua/keys.ts';
import { masters, type RedisClient } from '../lua/client.ts';
import type { GatewayRun } from './calibration-file.ts';

// 1,000 users per connection, 100 coupons each: the limit never refuses in a bounded run.
const USERS_PER_CONNECTION = 1000;
const PER_USER_LIMIT = 100;
const WARMUP_S = 1;

/**
 * Entries ever appended to the key space's streams (XINFO STREAM entries-added, Redis ≥ 7):
 * this prefix's own count, which other work on a shared Redis does not disturb.
 */
async function entriesAdded(redis: RedisClient, ks: KeySpace): Promise<number> {
  let n = 0;
  for (const key of allStreamKeys(ks)) {
    if (await redis.exists(key) === 0) continue;
    const info = await redis.xinfo('STREAM', key) as unknown[];
    const i = info.indexOf('entries-added');
    if (i < 0) throw new Error('XINFO STREAM has no entries-added: calibrate needs Redis 7 or later');
    n += Number(info[i + 1]);
  }
  return n;
}

/**
 * Runs the gateway measurement on `st` (the storage's config must carry GUARDS_OFF). On a
 * cluster, `pids.masters` (pid by port) meters each master; its EVALSHA calls are counted per master.
 */
export async function measureGateway(st: BenchStorage, seconds: number, connections: number, pids: {
  redis?: number; mariadb?: number; masters?: Readonly<Record<number, number>> }): Promise<GatewayRun> {
  const cfg = st.cfg;
  const sink = spawnNode('sink', 'sink/main.ts', childEnv(cfg));
  onCleanup('sink', () => sink.stop(15_000));
  await waitForLog(sink, 'running', 30_000);
  const gateway = spawnNode('gateway', 'gateway/main.ts', childEnv(cfg, GUARDS_OFF));
  // registered after the sink, so it is stopped first.
  onCleanup('gateway', () => gateway.stop(15_000));
  const port = (await waitForLog(gateway, 'gateway listening', 30_000)).port;
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${cfg.adminToken}` };

  const created = await fetch(`${base}/v1/admin/templates`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'capacity calibration', type: 'direct', value: 100, totalStock: 5_000_000, perUserLimit: PER_USER_LIMIT }),
  });
  if (created.status !== 201) throw new Error(`create template: ${created.status} ${await created.text()}`);
  const { id: templateId, subStocks } = (await created.json()) as { id: string; subStocks: number };
  const ks: KeySpace = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  const issuedNow = async () => {
    const r = await fetch(`${base}/v1/admin/templates/${templateId}`, { headers: auth });
    if (r.status !== 200) throw new Error(`read template: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { stock: { issued: number } }).stock.issued;
  };
  const load = (label: string, durationS: number) => runAutocannon({
    label, url: `${base}/v1/claim`, path: '/v1/claim', templateId, connections, durationS, usersPerConnection: USERS_PER_CONNECTION });
  const waitDrained = async () => {
    if (!(await waitUntil(() => drained(st), 60_000))) throw new Error(`the sink did not drain within 60 s:\n${sink.tail().slice(-2000)}`);
  };

  console.log(`gateway: warm-up ${WARMUP_S} s, then ${seconds} s of claims at ${connections} connections`);
  await load('warm-up', WARMUP_S);
  // the sink starts the measured run with nothing left over: its CPU is then exactly this run's rows.
  await waitDrained();
  const issuedBefore = await issuedNow();
  const entriesBefore = await entriesAdded(st.redis, ks);
  const nodes = masters(st.redis);
  const cmds = await Promise.all(nodes.map((n) => commandMeter(n)));
  const masterPids = Object.entries(pids.masters ?? {}).map(([port, pid]) => [`master ${port}`, pid] as const);
  const sinkMeter = cpuMeter({ sink: sink.proc.pid, mariadb: pids.mariadb });
  // the process tree: with GATEWAY_WORKERS > 1 the gateway is a supervisor and its workers.
  const gwMeter = cpuMeter({ gateway: { tree: gateway.proc.pid }, redis: pids.redis, ...Object.fromEntries(masterPids) });
  const r = await load('claims', seconds);
  const gwCpu = gwMeter.finish();
  await waitDrained();
  const sinkCpu = sinkMeter.finish();
  const evalshaByNode = await Promise.all(cmds.map(async (c) => (await c.finish()).find((x) => x.command === 'evalsha')?.calls ?? 0));
  const issued = (await issuedNow()) - issuedBefore;
  const entries = (await entriesAdded(st.redis, ks)) - entriesBefore;
  if (r.ok2xx < 0.9 * r.responses || r.ok2xx === 0) {
    throw new Error(`only ${r.ok2xx} of ${r.responses} claims were answered 2xx (${JSON.stringify(r.statuses)})`);
  }
  const v = await judgeTemplate(st, templateId);
  if (v.violations.length > 0) throw new Error(`the run broke an invariant: ${v.violations.slice(0, 5).map((x) => `${x.kind}: ${x.detail}`).join('; ')}`);
  const rows = v.templates[0]!.rows;

  const gatewayCpuS = gwCpu.find((c) => c.name === 'gateway')!.cpuS;
  const sinkCpuS = sinkCpu.find((c) => c.name === 'sink')!.cpuS;
  const serverCpu = (shares: typeof gwCpu, name: string) => (pids[name as 'redis'] === undefined ? null
    : shares.find((c) => c.name === name)!.cpuS);
  const evalshaCalls = evalshaByNode.reduce((a, b) => a + b, 0);
  const perMaster = masterPids.map(([name]) => {
    const port = Number(name.slice('master '.length));
    const i = nodes.findIndex((n) => Number((n as { options: { port: number } }).options.port) === port);
    return { port, cpuS: gwCpu.find((c) => c.name === name)!.cpuS, evalsha: i < 0 ? 0 : evalshaByNode[i]! };
  });
  const run: GatewayRun = {
    connections, seconds: r.seconds, responses: r.responses, ok2xx: r.ok2xx, statuses: r.statuses,
    claimsPerS: r.ok2xx / r.seconds, p50Ms: r.p50Ms, p99Ms: r.p99Ms,
    gatewayCpuS, gatewayCores: gwCpu.find((c) => c.name === 'gateway')!.cores,
    claimsPerGatewayCpuS: r.ok2xx / gatewayCpuS,
    subStocks, streamEntries: entries, groupSize: issued / entries, claimsPerEvalsha: r.ok2xx / evalshaCalls,
    issued, sinkCpuS, rowsPerSinkCpuS: issued / sinkCpuS,
    rowsVerified: rows,
    redisCpuS: masterPids.length > 0 ? perMaster.reduce((a, m) => a + m.cpuS, 0) : serverCpu(gwCpu, 'redis'),
    mariadbCpuS: serverCpu(sinkCpu, 'mariadb'),
    ...(masterPids.length > 0 ? { masters: perMaster } : {}),
  };
  console.log(`gateway: ${Math.round(run.claimsPerS)} claims/s (p99 ${run.p99Ms} ms), gateway ${run.gatewayCores.toFixed(2)} cores, ` +
    `${Math.round(run.claimsPerGatewayCpuS)} claims per gateway CPU-second, ${run.groupSize.toFixed(2)} claims per ` +
    `claim-home call (${run.claimsPerEvalsha.toFixed(2)} 2xx per EVALSHA); sink ${Math.round(run.rowsPerSinkCpuS)} rows ` +
    `per CPU-second; MySQL holds all ${rows} coupons`);
  return run;
}
