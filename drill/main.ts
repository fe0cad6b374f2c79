/**
 * `make drill`: fault drills against a real stack of the drill's own (Redis, MariaDB, gateways,
 * sinks on their own ports and data under .data/drill). Runs each drill in turn (drill/phase.ts),
 * rechecks everything at the end, prints the table and writes it to the report file.
 * Exit code: 0 all held; 1 a violation or a failure to recover; 2 the drill itself failed
 * (a step over its time limit, a service that would not start); 130 interrupted.
 * `--topology cluster` runs the scaled-out drills instead (drill/cluster-main.ts).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigWith } from '../config/index.ts';
import { AppProcess } from './apps.ts';
import { DrillClient } from './client.ts';
import { startCuttingProxy } from '../tools/harness/cutting-proxy.ts';
import type { Attempt } from './facts.ts';
import { Probe } from './collect.ts';
import { type DrillName, parseOptions } from './options.ts';
import { finish } from './finish.ts';
import { type PhaseResult, runPhase } from './phase.ts';
import { Services } from './services.ts';
import { runClusterDrill } from './cluster-main.ts';
import { initLog } from '../core/log.ts';
import { ADMIN_TOKEN, LOAD, SINK_SETTINGS } from './stack-settings.ts';

// Lines of the libraries it runs say they are the drill's; its gateways and sinks log to their own files.
initLog('drill');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = `${ROOT}.data/drill`;
const dirs = { logDir: `${DATA}/log`, runDir: `${DATA}/run` };
// the whole drill, start-up and shutdown included: a hung step cannot keep it running.
const TOTAL_LIMIT_MS = 10 * 60_000;

const say = (msg: string) => process.stdout.write(`drill: ${msg}\n`);

async function main(): Promise<number> {
  const started = new Date();
  const o = parseOptions(process.argv.slice(2));
  if (o.topology === 'cluster') return runClusterDrill(o, { root: ROOT, startedAt: started, say });
  mkdirSync(dirs.logDir, { recursive: true });
  mkdirSync(dirs.runDir, { recursive: true });
  // Every storage setting is given: nothing of a developer's environment points the drill's
  // processes at other servers.
  const storageEnv = {
    APP_ENV: 'local', ADMIN_TOKEN, KEY_PREFIX: 'drill', DB_PREFIX: 'drill',
    REDIS_URL: `redis://127.0.0.1:${o.redisPort}`, REDIS_CLUSTER_NODES: '',
    MYSQL_URL: `mysql://root@127.0.0.1:${o.mysqlPort}`, MYSQL_SHARD_URLS: '',
  };
  const cfg = loadConfigWith(storageEnv);
  const services = new Services({ root: ROOT, redisPort: o.redisPort, mysqlPort: o.mysqlPort, appendfsync: o.appendfsync,
    logFile: `${dirs.logDir}/services.log` });
  const client = new DrillClient(o.clients * 2);
  const gateways: AppProcess[] = o.gatewayPorts.map((port, i) => new AppProcess({
    name: `gateway-${i}`, entry: 'gateway/main.ts', ready: 'gateway listening',
    env: { ...storageEnv, HOST: '127.0.0.1', PORT: String(port), SHUTDOWN_GRACE_MS: '2000' },
  }, dirs));
  const sinkConsumers = Array.from({ length: o.sinks }, (_, i) => `drill-sink-${i}`);
  const sinks: AppProcess[] = sinkConsumers.map((consumer, i) => new AppProcess({
    // Each sink's metrics listener on a free port: its /healthz says when it runs.
    name: `sink-${i}`, entry: 'sink/main.ts', ready: 'metrics listening', healthz: true,
    env: { ...storageEnv, ...SINK_SETTINGS, SINK_CONSUMER: consumer, SINK_METRICS_PORT: '0' },
  }, dirs));
  let probe: Probe | undefined;
  // gateway-freeze's gateway: its Redis connections go through a proxy that can hold a command.
  const proxy = await startCuttingProxy('127.0.0.1', o.redisPort);
  const frozenPort = o.gatewayPorts.at(-1)! + 1;
  const frozen = {
    proxy, url: `http://127.0.0.1:${frozenPort}`,
    app: new AppProcess({
      name: 'gateway-frozen', entry: 'gateway/main.ts', ready: 'gateway listening',
      env: { ...storageEnv, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, HOST: '127.0.0.1', PORT: String(frozenPort), SHUTDOWN_GRACE_MS: '2000' },
    }, dirs),
  };
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const admin = async (path: string, body: unknown, method = 'POST') => {
    const r = await client.send(method, `http://127.0.0.1:${o.gatewayPorts[0]}${path}`, body, auth, 5_000);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const attempt = async (base: string, gateway: number, userId: string, templateId: string, requestId: string,
    timeoutMs: number): Promise<Attempt> => {
    const sentAt = Date.now();
    const outcome = await client.claim(base, userId, templateId, requestId, timeoutMs);
    return { requestId, userId, templateId, gateway, sentAt, endedAt: Date.now(), outcome };
  };

  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= (async () => {
    say('stopping gateways, sinks, redis and mariadb');
    client.abortAll();
    for (const g of [...gateways, frozen.app]) await g.stop(5_000).catch(() => undefined);
    await proxy.close();
    for (const s of sinks) await s.stop(15_000).catch(() => undefined);
    client.close();
    await probe?.close().catch(() => undefined);
    await services.down().catch((err) => say(`stopping services failed: ${String(err)}`));
    for (const a of [...gateways, frozen.app, ...sinks]) a.close();
  })());
  const interrupted = new Promise<number>((res) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { say(`${sig}: cleaning up`); res(130); });
  });
  const overall = new Promise<number>((res) => setTimeout(() => { say(`over the ${TOTAL_LIMIT_MS / 60_000} min limit`); res(2); }, TOTAL_LIMIT_MS).unref());

  const run = async (): Promise<number> => {
    say(`services: redis 127.0.0.1:${o.redisPort} (appendfsync ${o.appendfsync}), mariadb 127.0.0.1:${o.mysqlPort}, data ${DATA}`);
    await services.appsDown();
    await services.down();
    await services.reset();
    await services.up();
    probe = await Probe.open(cfg);
    await probe.resetSchema();
    for (const s of sinks) await s.start();
    for (const g of gateways) await g.start();
    say(`${gateways.length} gateways (ports ${o.gatewayPorts.join(', ')}), ${sinks.length} sinks up`);

    const phases: PhaseResult[] = [];
    const gatewayUrls = o.gatewayPorts.map((p) => `http://127.0.0.1:${p}`);
    for (const drill of o.drills as readonly DrillName[]) {
      say(`${drill}: running`);
      const r = await runPhase(drill, {
        client, probe, gatewayUrls, adminToken: ADMIN_TOKEN,
        load: { clients: o.clients, users: o.users, ...LOAD },
        fault: { services, gateways, gatewayUrls, frozen, admin, attempt, sinks, sinkConsumers, probe, appendfsync: o.appendfsync,
          inFlightTo: (i) => client.inFlightTo(gatewayUrls[i]!) },
      });
      phases.push(r);
      say(`${drill}: ${r.row.verdict.requests} requests, ${r.row.verdict.violations.length} violation(s)`);
    }

    const settings = `appendfsync ${o.appendfsync}; ${gateways.length} gateways, ${sinks.length} sinks ` +
      `(batch wait ${SINK_SETTINGS.SINK_BATCH_MAX_WAIT_MS} ms, reclaim idle ${SINK_SETTINGS.SINK_RECLAIM_IDLE_MS} ms); ` +
      `${o.clients} clients, ${o.users} users, client timeout ${LOAD.timeoutMs} ms, up to ${LOAD.maxAttempts} attempts per request`;
    return finish({ probe, phases, startedAt: started, settings, reportFile: resolve(ROOT, o.reportFile), say });
  };

  const code = await Promise.race([
    run().catch((err: unknown) => {
      say(`failed: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }),
    interrupted, overall,
  ]);
  await cleanup();
  say(`total ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);
  return code;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err);
  process.exit(2);
});
