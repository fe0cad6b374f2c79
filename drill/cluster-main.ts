/**
 * `make drill TOPOLOGY=cluster`: the scaled-out drills (issue 15) on a stack of the drill's own:
 * a Redis Cluster of 3 masters with a replica each (and a spare node for the reshard), two
 * MariaDB servers (shard db 1 on the second), 2 gateways and 2 sinks in one consumer group.
 * Each run starts from a fresh 3+3 cluster and empty databases, runs each drill in turn
 * (drill/phase.ts, faults in drill/cluster-faults.ts), rechecks everything and reports the same
 * table as `make drill`; every server and process it started is stopped by pid at the end.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfigWith } from '../config/index.ts';
import { AppProcess } from './apps.ts';
import { DrillClient } from './client.ts';
import { CLUSTER_FAULTS, type ClusterFaultCtx } from './cluster-faults.ts';
import { failoverLoss, failoverOutage } from './cluster-loss.ts';
import { setMinReplicasToWrite } from './cluster-nodes.ts';
import { ClusterServices } from './cluster-services.ts';
import { Probe } from './collect.ts';
import { finish } from './finish.ts';
import type { ClusterDrillName, DrillOptions } from './options.ts';
import { collectFacts, type PhaseResult, runDrill } from './phase.ts';
import { Services } from './services.ts';
import { ADMIN_TOKEN, LOAD, SINK_SETTINGS } from './stack-settings.ts';

// the whole run, fresh cluster and shutdown included: a hung step cannot keep it running.
const TOTAL_LIMIT_MS = 8 * 60_000;
// Low enough that mysql-server-stop's backlog meets it within seconds: claims then answer 503
// instead of the backlog growing without bound (the product's default is 500,000).
const BACKLOG_MAX = 1_500;

/** Where the run is told it runs. */
export interface ClusterRunEnv {
  readonly root: string;
  readonly startedAt: Date;
  readonly say: (msg: string) => void;
}

/** Runs the cluster drills of `o`; the exit code as drill/main.ts documents it. */
export async function runClusterDrill(o: DrillOptions, x: ClusterRunEnv): Promise<number> {
  const { root, say } = x;
  // Gateways' and sinks' logs and pid files where drill/services.sh apps-down finds leftovers.
  const dirs = { logDir: `${root}.data/drill/log`, runDir: `${root}.data/drill/run` };
  mkdirSync(dirs.logDir, { recursive: true });
  mkdirSync(dirs.runDir, { recursive: true });
  const mysqlUrls = [o.mysqlPort, o.mysql2Port].map((p) => `mysql://root@127.0.0.1:${p}`);
  // Every storage setting is given: nothing of a developer's environment points the drill elsewhere.
  const storageEnv = {
    APP_ENV: 'local', ADMIN_TOKEN, KEY_PREFIX: 'drill', DB_PREFIX: 'drill', SHARD_DBS: '2',
    REDIS_URL: `redis://127.0.0.1:${o.clusterPorts[0]}`, REDIS_CLUSTER_NODES: o.clusterPorts.map((p) => `127.0.0.1:${p}`).join(','),
    MYSQL_URL: mysqlUrls[0]!, MYSQL_SHARD_URLS: mysqlUrls.join(','),
  };
  const cfg = loadConfigWith(storageEnv);
  const logFile = `${dirs.logDir}/cluster-services.log`;
  const cluster = new ClusterServices({ root, mysqlPort: o.mysqlPort, mysql2Port: o.mysql2Port, redisPorts: o.clusterPorts,
    sparePort: o.sparePort, logFile });
  // only for apps-down: the single-node drill's servers are never started here.
  const single = new Services({ root, redisPort: o.redisPort, mysqlPort: o.mysqlPort, appendfsync: o.appendfsync, logFile });
  const client = new DrillClient(o.clients * 2);
  const gatewaysOf = (waitReplicas: boolean) => o.gatewayPorts.map((port, i) => new AppProcess({
    name: `cluster-gateway-${i}${waitReplicas ? '-wait' : ''}`, entry: 'gateway/main.ts', ready: 'gateway listening',
    env: { ...storageEnv, HOST: '127.0.0.1', PORT: String(port), SHUTDOWN_GRACE_MS: '2000', BACKLOG_MAX: String(BACKLOG_MAX),
      REDIS_WAIT_REPLICAS: waitReplicas ? '1' : '0' },
  }, dirs));
  let waiting = false;
  let gateways = gatewaysOf(waiting);
  const retired: AppProcess[] = [];
  const sinkConsumers = Array.from({ length: o.sinks }, (_, i) => `drill-cluster-sink-${i}`);
  const sinks = sinkConsumers.map((consumer, i) => new AppProcess({
    name: `cluster-sink-${i}`, entry: 'sink/main.ts', ready: 'metrics listening', healthz: true,
    env: { ...storageEnv, ...SINK_SETTINGS, SINK_CONSUMER: consumer, SINK_METRICS_PORT: '0' },
  }, dirs));
  let probe: Probe | undefined;

  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= (async () => {
    say('stopping gateways, sinks, the Redis Cluster and both MariaDB servers');
    client.abortAll();
    for (const g of gateways) await g.stop(5_000).catch(() => undefined);
    for (const s of sinks) await s.stop(15_000).catch(() => undefined);
    client.close();
    await probe?.close().catch(() => undefined);
    await cluster.down().catch((err) => say(`stopping the cluster stack failed: ${String(err)}`));
    for (const a of [...retired, ...gateways, ...sinks]) a.close();
  })());
  const interrupted = new Promise<number>((res) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { say(`${sig}: cleaning up`); res(130); });
  });
  const overall = new Promise<number>((res) => setTimeout(() => { say(`over the ${TOTAL_LIMIT_MS / 60_000} min limit`); res(2); }, TOTAL_LIMIT_MS).unref());

  /** Restarts the gateways on their ports with REDIS_WAIT_REPLICAS set as `wait` says. */
  const switchGateways = async (wait: boolean) => {
    // REDIS_WAIT_REPLICAS=1 goes with min-replicas-to-write 1 on the masters (docs/reliability.md).
    await setMinReplicasToWrite(o.clusterPorts, wait ? 1 : 0);
    for (const g of gateways) await g.stop(5_000);
    retired.push(...gateways);
    gateways = gatewaysOf((waiting = wait));
    for (const g of gateways) await g.start();
    say(`gateways restarted with REDIS_WAIT_REPLICAS=${wait ? 1 : 0}, min-replicas-to-write ${wait ? 1 : 0} on every node`);
  };

  const run = async (): Promise<number> => {
    say(`services: Redis Cluster ${o.clusterPorts.join(', ')} (spare ${o.sparePort}), mariadb ${o.mysqlPort} and ${o.mysql2Port} (shard db 1), `
      + 'data in .data/drill-topology');
    await single.appsDown();
    // A fresh 3+3 cluster every run: an earlier run's failovers and reshard are gone with its data.
    await cluster.down();
    await cluster.reset();
    await cluster.up();
    probe = await Probe.open(cfg);
    await probe.resetSchema();
    for (const s of sinks) await s.start();
    for (const g of gateways) await g.start();
    say(`${gateways.length} gateways (ports ${o.gatewayPorts.join(', ')}), ${sinks.length} sinks up`);
    const ctx: ClusterFaultCtx = { cluster, ks: { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions }, probe, sinks, sinkConsumers,
      backlogMax: BACKLOG_MAX, killed: {} };
    const gatewayUrls = o.gatewayPorts.map((p) => `http://127.0.0.1:${p}`);
    const phases: PhaseResult[] = [];
    for (const drill of o.drills as readonly ClusterDrillName[]) {
      const wait = drill === 'master-failover-wait';
      if (wait !== waiting) await switchGateways(wait);
      say(`${drill}: running (${((Date.now() - x.startedAt.getTime()) / 1000).toFixed(0)} s into the run)`);
      let r = await runDrill(drill, (attempts) => CLUSTER_FAULTS[drill](ctx, drill, attempts),
        { client, probe, gatewayUrls, adminToken: ADMIN_TOKEN, load: { clients: o.clients, users: o.users, ...LOAD } });
      if (drill === 'master-failover' || drill === 'master-failover-wait') r = await withLoss(probe, r, ctx.killed);
      phases.push(r);
      say(`${drill}: ${r.row.verdict.requests} requests, ${r.row.verdict.violations.length} violation(s)`);
      for (const v of r.row.verdict.violations.slice(0, 5)) say(`  ${v.kind}: ${v.detail}`);
      for (const f of r.failures) say(`  failure: ${f}`);
    }
    const settings = `Redis Cluster 3 masters + 3 replicas (node timeout 5 s, appendfsync everysec), 2 MariaDB servers; `
      + `${gateways.length} gateways (BACKLOG_MAX ${BACKLOG_MAX}), ${sinks.length} sinks in one group `
      + `(batch wait ${SINK_SETTINGS.SINK_BATCH_MAX_WAIT_MS} ms, reclaim idle ${SINK_SETTINGS.SINK_RECLAIM_IDLE_MS} ms); `
      + `${o.clients} clients, ${o.users} users, client timeout ${LOAD.timeoutMs} ms, up to ${LOAD.maxAttempts} attempts per request`;
    return finish({ probe, phases, startedAt: x.startedAt, settings, reportFile: resolve(root, o.reportFile), say });
  };

  const code = await Promise.race([
    run().catch((err: unknown) => {
      say(`failed: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }),
    interrupted, overall,
  ]);
  await cleanup();
  say(`total ${((Date.now() - x.startedAt.getTime()) / 1000).toFixed(1)} s`);
  return code;
}

/** The failover's measured loss and outage, added to its row's note (the counts the issue asks for). */
async function withLoss(probe: Probe, r: PhaseResult, killed: ClusterFaultCtx['killed']): Promise<PhaseResult> {
  const l = failoverLoss(await collectFacts(probe, r.templates, r.attempts, r.lossWindows, 0));
  const s = (ms: number | null) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  const o = killed.subStocks && killed.at !== undefined ? failoverOutage(r.attempts, r.templates, killed.subStocks, killed.at) : undefined;
  const outage = o ? `; claims homed on its sub-stocks: last error ${s(o.lastErrorMs)}, first issued ${s(o.firstIssuedMs)} after the kill` : '';
  const note = `${r.row.note}${outage}; measured: ${l.lostAnswers} "issued" answer(s) lost with the old master, `
    + `${l.unitsBack} stock unit(s) back in stock that would be sold twice, ${l.unitsResold} sold twice already`;
  return { ...r, row: { ...r.row, note } };
}
