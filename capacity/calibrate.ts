/**
 * `npm run capacity -- calibrate`: this machine's real ceilings, from short bounded runs against
 * the local Redis and MariaDB (loadConfig(): REDIS_URL, MYSQL_URL): claims per Redis core at
 * several group sizes (claims per claim-home call), rows/s per MariaDB at several batch sizes,
 * claims per gateway CPU-second and the group size the gateway reached, rows per sink
 * CPU-second. Each section uses its own key and database prefix and deletes it afterwards, also
 * on failure and Ctrl-C (tools/harness/cleanup.ts). The figures are saved with the machine facts.
 */
import { randomBytes } from 'node:crypto';
import { type Config, loadConfigWith } from '../config/index.ts';
import { progressBar } from '../cli/progress.ts';
import { onCleanup, runCleanup } from '../tools/harness/cleanup.ts';
import { stopAutocannon } from '../tools/harness/http-load.ts';
import { stopAllChildren } from '../tools/harness/processes.ts';
import { machineFacts } from '../tools/harness/machine.ts';
import { GUARDS_OFF, openBenchStorage, serverFacts } from '../tools/harness/bench-storage.ts';
import { type Calibration, CALIBRATION_VERSION, type ClusterCalibration, measuredSet, notPipelined, previousWait,
  writeCalibration } from './calibration-file.ts';
import { measureGateway } from './measure-gateway.ts';
import { measureMysql } from './measure-mysql.ts';
import { measureRedis } from './measure-redis.ts';
import { calibrateCluster, type ClusterOptions, clusterSteps } from './calibrate-cluster.ts';
import { summarize } from './cluster-file.ts';
import { figuresAt, num } from './model.ts';
import { type CalibrateOptions, DEFAULT_CALIBRATION } from './options.ts';

// Above this many cores busy with other work before the start, the figures come out low.
const BUSY_WARNING = 0.3;

/** A section's config: the run's prefix plus `suffix`, one MariaDB server, local app env. */
function sectionConfig(prefix: string, suffix: string, extra: Record<string, string> = {}): Config {
  const name = `${prefix}_${suffix}`;
  // MYSQL_SHARD_URLS emptied: the figure is rows/s into ONE MariaDB (MYSQL_URL).
  const cfg = loadConfigWith({ APP_ENV: 'local', KEY_PREFIX: name, DB_PREFIX: name, MYSQL_SHARD_URLS: '', ...extra });
  // key cleanup SCANs one node, and a shard is one Redis core: calibrate a single Redis.
  if (cfg.redis.clusterNodes.length > 0) throw new Error('calibrate measures one Redis: unset REDIS_CLUSTER_NODES');
  return cfg;
}

/** Runs every measurement, saves the file; returns the exit code (1 if anything failed). */
export async function runCalibration(o: CalibrateOptions, argv: readonly string[]): Promise<number> {
  let interrupted = false;
  const co: ClusterOptions = { masters: o.masters, ports: o.clusterPorts, rounds: o.rounds, seconds: o.seconds, connections: o.connections };
  const clusterCount = o.topology === 'cluster' ? clusterSteps(co) : 0;
  // one step per measurement: each Redis mode and group size, each batch size, the gateway, the cluster runs.
  const bar = progressBar('calibrate', o.groupSizes.length * 2 + o.batchSizes.length + 1 + clusterCount, 'measurements');
  const abort = async (why: string, code: number) => {
    if (interrupted) process.exit(code);
    interrupted = true;
    bar.stop();
    console.error(`\ncapacity calibrate: ${why}; cleaning up`);
    stopAutocannon();
    await stopAllChildren();
    for (const f of await runCleanup(10_000)) console.error(f);
    // a section may have started a child while the cleanup ran.
    await stopAllChildren();
    process.exit(code);
  };
  process.on('SIGINT', () => void abort('interrupted', 130));
  process.on('SIGTERM', () => void abort('terminated', 143));
  // a stuck step must never keep loading the shared machine.
  // per group size: two claim runs and the reads; per batch size one run; the gateway's.
  // a cluster measurement: a claim run, or a gateway run (about 3 × seconds), plus starts and stops.
  const limitS = o.seconds * (3 * o.groupSizes.length + o.batchSizes.length + 2 + 3 * clusterCount) + 180 + 30 * clusterCount;
  setTimeout(() => void abort(`still running after ${limitS} s (watchdog)`, 1), limitS * 1000).unref();

  const prefix = `cap_${randomBytes(3).toString('hex')}`;
  try {
    const machine = await machineFacts();
    console.log(`calibrate: ${machine.date}, nproc ${machine.nproc}, ${machine.cpuModel}, node ${machine.node}, ` +
      `${machine.busyBefore.toFixed(2)} cores busy before start; ${o.seconds} s per measurement, prefix ${prefix}`);
    if (machine.busyBefore > BUSY_WARNING) console.warn('calibrate: WARNING: the machine is busy with other work; the figures will be low');

    // after Ctrl-C no section may start: it would create data behind the cleanup.
    const go = () => { if (interrupted) throw new Error('interrupted'); };
    let done = 0;
    const step = () => bar.update(++done);
    const redis = await measureRedis(sectionConfig(prefix, 'r'), o.seconds, o.groupSizes, step);
    go();

    const mysqlSt = await openBenchStorage(sectionConfig(prefix, 'm'));
    onCleanup('mysql storage', () => mysqlSt.cleanup());
    const servers = await serverFacts(mysqlSt);
    const mysql = await measureMysql(mysqlSt, o.seconds, o.batchSizes, servers.mariadbPid, step);
    await cleanupSection();
    go();

    const gwSt = await openBenchStorage(sectionConfig(prefix, 'g', GUARDS_OFF));
    onCleanup('gateway storage', () => gwSt.cleanup());
    const gateway = await measureGateway(gwSt, o.seconds, o.connections, { redis: servers.redisPid, mariadb: servers.mariadbPid });
    step();
    await cleanupSection();
    go();

    let cluster: ClusterCalibration | undefined;
    if (o.topology === 'cluster') cluster = await calibrateCluster(prefix, co, servers.mariadbPid, step, go);
    bar.stop();

    const wait = previousWait(o.out);
    const c: Calibration = {
      version: CALIBRATION_VERSION, date: machine.date, command: `npm run capacity -- ${argv.join(' ')}`.trim(),
      machine: {
        nproc: machine.nproc, cpuModel: machine.cpuModel, memGiB: Math.round(machine.memGiB * 10) / 10, node: machine.node,
        redisVersion: servers.redisVersion, mariadbVersion: servers.mariadbVersion, busyBefore: machine.busyBefore,
        loadStart: machine.loadStart,
      },
      secondsPerRun: o.seconds, prefix, redis, mysql, gateway, ...(cluster ? { cluster } : {}), ...(wait ? { wait } : {}),
    };
    writeCalibration(o.out, c);
    // the figures plan uses by default: at the group size the gateway reached.
    const f = figuresAt(measuredSet(c));
    const perCore = (r: (typeof redis)[number]) => num(Math.round(r.claimsPerRedisCpuS ?? r.claimsPerS));
    console.log(`\ncalibrate: saved to ${o.out}\n` +
      `  claims per Redis core at ${notPipelined(c).map((r) => `${r.groupSize} per call ${perCore(r)}`).join(', ')} ` +
      `(not pipelined; pipelined ${redis.filter((r) => r.mode === 'pipelined').map(perCore).join(', ')})\n` +
      `  rows/s into one MariaDB: ${mysql.map((m) => `${num(m.batchSize)} per INSERT ${num(Math.round(m.rowsPerS))}`).join(', ')}\n` +
      `  claims per gateway CPU-second: ${num(Math.round(gateway.claimsPerGatewayCpuS))} at ${num(f.groupSize)} claims per ` +
      `claim-home call (${num(Math.round(f.homeClaimsPerShard))} claims per Redis core at that size, ${f.homeFrom}); ` +
      `rows per sink CPU-second: ${num(Math.round(gateway.rowsPerSinkCpuS))}; the sink's stream reads and acks ` +
      `${num(f.streamOverhead)} scripts per claim at that size\n` +
      `  next: npm run capacity -- plan --qps 120000 ${o.out === DEFAULT_CALIBRATION ? '--calibrated' : `--calibration ${o.out}`}`);
    if (cluster) console.log(clusterLines(cluster));
    if (o.json) console.log(JSON.stringify(c, null, 2));
    return 0;
  } catch (err) {
    bar.stop();
    console.error(`capacity calibrate: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    await stopAllChildren();
    for (const f of await runCleanup()) console.error(f);
    return 1;
  }
}

/** The cluster section's medians, one line per shape, and each gateway run. */
function clusterLines(c: ClusterCalibration): string {
  const n = (v: number | null) => (v === null ? '?' : num(Math.round(v * 10) / 10));
  return [`  Redis Cluster, medians of ${c.rounds} runs of ${c.secondsPerRun} s, ${c.groupSize} claim per call:`,
    ...summarize(c.runs).map((s) => `    ${s.masters} master${s.masters === 1 ? '' : 's'}${s.replicas ? ` + ${s.replicas} replica each` : ''}: ` +
      `${n(s.claimsPerS)} claims/s, ${n(s.usPerClaim)} µs of master CPU per claim (${n(s.claimsPerMasterCpuS)} per master ` +
      `CPU-second), busiest master ${n(s.imbalance)}× an even share` +
      `${s.replicaUsPerClaim === null ? '' : `, replicas ${n(s.replicaUsPerClaim)} µs per claim`}, client ${n(s.clientCores)} cores`),
    ...c.gateway.map(({ masters, run: g }) => `    gateway on ${masters} master${masters === 1 ? '' : 's'}: ${n(g.claimsPerS)} claims/s, ` +
      `${n(g.gatewayCpuS * 1e6 / g.ok2xx)} µs of gateway CPU and ${n(g.redisCpuS === null ? null : g.redisCpuS * 1e6 / g.ok2xx)} µs of ` +
      `master CPU per claim (${(g.masters ?? []).map((m) => `${m.port}: ${n(m.cpuS * 1e6 / g.ok2xx)}`).join(', ')}), ` +
      `${n(g.groupSize)} claims per call`),
  ].join('\n');
}

/** Stops the section's children and deletes its keys and databases before the next one measures. */
async function cleanupSection(): Promise<void> {
  await stopAllChildren();
  const failures = await runCleanup();
  if (failures.length > 0) throw new Error(failures.join('\n'));
}
