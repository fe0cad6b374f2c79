// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/**
 * docker-compose.yml (issue 14, item 10) cannot run here (no Docker engine), so it is checked:
 * every app service's environment, interpolated as compose would, passes the real config schema
 * and the gateway's start-up checks; storage runs with AOF and noeviction; every address names a
 * service and its port; the start order is migrate, sink, gateway; the Dockerfile copies what the
 * entries import. Then the gateway, sink and migration run with the compose environments (storage
 * addresses swapped for the test's) and their healthchecks' paths answer 200.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Config, loadConfig } from '../../config/index.ts';
import { gatewayStartupChecks } from '../../gateway/startup-checks.ts';
import { loadUws } from '../../gateway/http/uws.ts';
import { composeServices, entryOf, flagValue, healthcheckUrl, interpolate, publishedPorts, type Service, serviceEnv, storagePort } from '../support/compose.ts';
import { importClosure } from '../support/import-closure.ts';
import { http } from '../support/http.ts';
import { spawnGateway } from '../support/processes.ts';
import { spawnMetricsSink } from '../support/prometheus.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { openMysql, type MysqlPools } from '../../core/mysql.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const ROOT = new URL('../../', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, ROOT), 'utf8');
const scripts = JSON.parse(read('package.json')).scripts as Record<string, string>;

// What an operator exports before `docker compose up`: the secrets compose demands, then also
// every optional variable the file passes through.
const REQUIRED = { ADMIN_TOKEN: 'compose-admin-token-0123', CODE_SECRET: 'compose-code-secret-0123456789abcdefghij', MARIADB_PASSWORD: 'composePass42' };
const EVERYTHING = { ...REQUIRED, USER_TOKEN_SECRETS: 'u'.repeat(32), ORDER_SERVICE_TOKEN: 'order-service-token-0123', LOG_LEVEL: 'debug' };
const ROLES: Record<string, 'gateway' | 'sink' | 'migrate'> = { 'gateway/main.ts': 'gateway', 'sink/main.ts': 'sink', 'sink/migrate.ts': 'migrate' };

const services = composeServices();
const apps = [...services.values()].filter((s) => entryOf(s, scripts) !== undefined);
const role = (s: Service) => ROLES[entryOf(s, scripts)!] ?? assert.fail(`${s.name} runs ${entryOf(s, scripts)}`);
const ofRole = (r: string) => apps.filter((s) => role(s) === r);
const redisServices = [...services.values()].filter((s) => s.image?.startsWith('redis:') && s.command?.[0] === 'redis-server');
const portOf = (name: string) => storagePort(services.get(name) ?? assert.fail(`no service ${name}`));
const hostPort = (hp: string) => /^(.+):(\d+)$/.exec(hp) ?? assert.fail(`not host:port: ${hp}`);
/** The variables of `env` that loadConfig never reads: misspelt or gone, they would be ignored. */
function unread(env: Record<string, string>): string[] {
  const seen = new Set<string | symbol>();
  loadConfig(new Proxy(env, { get: (t, k) => (seen.add(k), Reflect.get(t, k)) }));
  return Object.keys(env).filter((k) => !seen.has(k));
}
/** The init script's GRANT: [, privileges, database pattern, user]. */
function appGrant(): RegExpExecArray {
  const mount = services.get('mariadb')!.volumes?.find((v) => v.includes(':/docker-entrypoint-initdb.d/'))?.split(':')[0] ?? assert.fail('no init script');
  return /GRANT (.+?)\s+ON `([^`]+)`\.\* TO '([^']+)'@'%'/s.exec(read(mount)) ?? assert.fail('no GRANT');
}
/** The storage a process uses: two processes with the same key are one deployment. */
const storageOf = (cfg: Config) => `${cfg.redis.clusterNodes.join(',') || cfg.redis.url} ${cfg.mysql.url} ${cfg.mysql.dbPrefix}`;

test('the app services pass the config schema and the start-up checks, with only the required secrets or with everything', () => {
  assert.deepEqual(apps.map(role).sort(), ['gateway', 'gateway', 'migrate', 'migrate', 'sink', 'sink']);
  for (const vars of [REQUIRED, EVERYTHING]) {
    for (const s of apps) {
      const cfg = loadConfig(serviceEnv(s, vars));
      assert.equal(cfg.appEnv, 'production', s.name);
      assert.deepEqual(unread(serviceEnv(s, vars)), [], `${s.name}: variables no setting reads (a typo?)`);
      assert.equal(s.build, '.', `${s.name} builds the app image`);
      assert.equal(s.image, 'coupon-gateway:local', s.name);
      if (role(s) !== 'gateway') continue;
      assert.deepEqual(gatewayStartupChecks(cfg).errors, [], s.name);
      assert.doesNotThrow(() => loadUws(cfg.http.allowUwsFallback), `${s.name}: uWS native binary`);
      assert.equal(cfg.admin.routes, 'separate', `${s.name}: admin routes off the public port`);
      assert.equal(cfg.adminToken, vars.ADMIN_TOKEN);
      assert.equal(cfg.codes.secret, vars.CODE_SECRET);
    }
  }
});

test('compose refuses to start without each secret', () => {
  for (const name of Object.keys(REQUIRED)) {
    const vars: Record<string, string> = { ...REQUIRED, [name]: '' };
    const refused = [...services.values()].filter((s) => {
      try {
        serviceEnv(s, vars);
        return false;
      } catch (err) {
        return (err as Error).message.includes(`required variable ${name} `);
      }
    });
    assert.ok(refused.length > 0, `no service requires ${name}`);
    for (const s of apps) {
      // a service that does not demand the secret must not need it either.
      if (refused.includes(s)) continue;
      const cfg = loadConfig(serviceEnv(s, vars));
      if (role(s) === 'gateway') assert.deepEqual(gatewayStartupChecks(cfg).errors, [], s.name);
    }
  }
  // and the production checks do refuse a gateway without them.
  const gw = ofRole('gateway')[0]!;
  const bare = Object.fromEntries(Object.entries(serviceEnv(gw, REQUIRED)).filter(([k]) => k !== 'ADMIN_TOKEN' && k !== 'CODE_SECRET'));
  assert.equal(gatewayStartupChecks(loadConfig(bare)).errors.length, 2);
});

test('Redis runs with AOF every second and noeviction; MariaDB as scripts/lib/mariadb.sh runs it', () => {
  assert.ok(redisServices.length >= 4);
  for (const s of redisServices) {
    assert.equal(flagValue(s, '--appendonly'), 'yes', `${s.name} appendonly`);
    assert.equal(flagValue(s, '--appendfsync'), 'everysec', `${s.name} appendfsync (scripts/lib/redis.sh)`);
    assert.equal(flagValue(s, '--maxmemory-policy'), 'noeviction', `${s.name} maxmemory-policy`);
    assert.ok(s.volumes?.some((v) => v.endsWith(':/data')), `${s.name} keeps its AOF on a volume`);
    assert.ok(s.healthcheck, `${s.name} healthcheck`);
  }
  assert.match(read('scripts/lib/redis.sh'), /--appendfsync "\$\{REDIS_APPENDFSYNC:-everysec\}"/);
  for (const s of services.values()) if (s.image && !s.build) assert.match(s.image, /:\d[\w.-]*$/, `${s.name}: a pinned image tag`);

  const db = services.get('mariadb')!;
  assert.ok(db.volumes?.some((v) => v.endsWith(':/var/lib/mysql')) && db.healthcheck);
  const flags = (read('scripts/lib/mariadb.sh').match(/--(?:skip-log-bin|innodb-buffer-pool-size|max-connections|character-set-server|collation-server)[^\s)"]*/g) ?? []);
  assert.equal(flags.length, 5);
  for (const f of flags) assert.ok(db.command?.includes(f), `mariadb runs with ${f}`);
});

test('the app user may create its databases and routines, and nothing else is assumed', () => {
  const db = services.get('mariadb')!;
  const dbEnv = serviceEnv(db, REQUIRED);
  const grant = appGrant();
  const privileges = grant[1]!.split(',').map((p) => p.trim());
  for (const p of ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'ALTER', 'CREATE ROUTINE', 'EXECUTE']) assert.ok(privileges.includes(p), p);
  const like = new RegExp(`^${grant[2]!.replace(/\\_/g, '_').replace(/%/g, '.*')}$`);
  assert.equal(grant[3], dbEnv.MARIADB_USER);
  for (const s of apps) {
    const cfg = loadConfig(serviceEnv(s, REQUIRED));
    const url = new URL(cfg.mysql.url);
    assert.equal(url.username, dbEnv.MARIADB_USER, s.name);
    assert.equal(decodeURIComponent(url.password), dbEnv.MARIADB_PASSWORD, s.name);
    for (const name of [`${cfg.mysql.dbPrefix}_main`, `${cfg.mysql.dbPrefix}_0`]) assert.match(name, like, `${s.name}: ${name} is granted`);
  }
});

test('every address names a compose service and its port; ports and healthchecks match the settings', () => {
  for (const s of apps) {
    const cfg = loadConfig(serviceEnv(s, EVERYTHING));
    const used = role(s) === 'migrate' ? [] : cfg.redis.clusterNodes.length > 0 ? [...cfg.redis.clusterNodes] : [new URL(cfg.redis.url).host];
    used.push(new URL(cfg.mysql.url).host, ...cfg.mysql.shardUrls.map((u) => new URL(u).host));
    for (const hp of used) {
      const [, host, port] = hostPort(hp);
      assert.equal(Number(port), portOf(host!), `${s.name}: ${hp}`);
    }
    const published = publishedPorts(s);
    const health = healthcheckUrl(s);
    if (role(s) === 'gateway') {
      assert.equal(cfg.http.host, '0.0.0.0', `${s.name}: a published port reaches only an all-interfaces listener`);
      assert.equal(cfg.admin.host, '0.0.0.0', s.name);
      assert.deepEqual(published.map((p) => p.containerPort).sort(), [cfg.http.port, cfg.admin.port].sort(), `${s.name} publishes PORT and ADMIN_PORT`);
      assert.ok(published.filter((p) => p.containerPort === cfg.admin.port).every((p) => p.hostIp === '127.0.0.1'), `${s.name}: admin on loopback only`);
      const admin = new URL(cfg.admin.url);
      assert.deepEqual([admin.hostname, Number(admin.port)], ['127.0.0.1', cfg.admin.port], `${s.name}: ADMIN_URL is its own admin listener`);
      assert.deepEqual([health?.hostname, Number(health?.port), health?.pathname], ['127.0.0.1', cfg.http.port, '/readyz'], s.name);
    } else if (role(s) === 'sink') {
      assert.deepEqual(published, [], `${s.name} publishes nothing`);
      assert.deepEqual([health?.hostname, Number(health?.port), health?.pathname], ['127.0.0.1', cfg.metrics.sinkPort, '/healthz'], s.name);
    }
  }
  const hostPorts = [...services.values()].flatMap((s) => publishedPorts(s).map((p) => `${p.hostIp}:${p.hostPort}`));
  assert.equal(new Set(hostPorts).size, hostPorts.length, 'no host port is published twice');
});

test('start order: migrate, then the sink, then the gateway, each on the same storage', () => {
  const cfgOf = (s: Service) => loadConfig(serviceEnv(s, REQUIRED));
  const dep = (s: Service, r: string, condition: string) => {
    const named = Object.entries(s.depends_on ?? {}).filter(([n, d]) => d.condition === condition && apps.some((a) => a.name === n && role(a) === r));
    assert.equal(named.length, 1, `${s.name} waits for one ${r} (${condition})`);
    return services.get(named[0]![0])!;
  };
  const stores = new Set<string>();
  for (const gw of ofRole('gateway')) {
    const sink = dep(gw, 'sink', 'service_healthy');
    const migrate = dep(sink, 'migrate', 'service_completed_successfully');
    assert.equal(dep(gw, 'migrate', 'service_completed_successfully'), migrate);
    assert.equal(storageOf(cfgOf(sink)), storageOf(cfgOf(gw)), `${gw.name} and ${sink.name} share storage`);
    assert.equal(cfgOf(migrate).mysql.dbPrefix, cfgOf(gw).mysql.dbPrefix);
    stores.add(`${cfgOf(gw).mysql.url} ${cfgOf(gw).mysql.dbPrefix}`);
    // the storage it names is up first.
    for (const s of [gw, sink]) {
      const deps = Object.keys(s.depends_on ?? {});
      const cfg = cfgOf(s);
      const redis = cfg.redis.clusterNodes.length > 0 ? 'redis-cluster-create' : new URL(cfg.redis.url).hostname;
      for (const d of [redis, new URL(cfg.mysql.url).hostname]) assert.ok(deps.includes(d), `${s.name} depends on ${d}`);
    }
  }
  assert.equal(stores.size, ofRole('gateway').length, 'each Redis has its own databases');
});

test('the cluster profile: three cluster masters, created once, named by the cluster gateway and sink', () => {
  const nodes = redisServices.filter((s) => flagValue(s, '--cluster-enabled') === 'yes');
  assert.equal(nodes.length, 3);
  const expected = nodes.map((s) => `${s.name}:${storagePort(s)}`).sort();
  const create = services.get('redis-cluster-create')!;
  assert.deepEqual(serviceEnv(create, REQUIRED).CLUSTER_NODES!.split(' ').sort(), expected);
  const script = interpolate(create.entrypoint!.join(' '), {});
  assert.match(script, /redis-cli --cluster create \$addrs --cluster-replicas 0 --cluster-yes/);
  assert.deepEqual(Object.keys(create.depends_on!).sort(), nodes.map((s) => s.name).sort());
  const clustered = apps.filter((s) => loadConfig(serviceEnv(s, REQUIRED)).redis.clusterNodes.length > 0);
  assert.deepEqual(clustered.map(role).sort(), ['gateway', 'sink']);
  for (const s of clustered) assert.deepEqual([...loadConfig(serviceEnv(s, REQUIRED)).redis.clusterNodes].sort(), expected, s.name);
  for (const s of [...nodes, create, ...clustered]) assert.deepEqual(s.profiles, ['cluster'], s.name);
  assert.ok(apps.filter((s) => s.profiles?.includes('cluster')).some((s) => role(s) === 'migrate'));
});

test('the Dockerfile: Node 20, npm ci, a non-root user, and every folder the entries import', () => {
  const docker = read('Dockerfile');
  assert.match(docker, /^FROM node:20-bookworm-slim$/m);
  assert.match(docker, /^RUN npm ci --omit=dev/m);
  assert.match(docker, /^USER node$/m);
  const copied = new Set([...docker.matchAll(/^COPY (\w+)\/ \1\/$/gm)].map((m) => m[1]!));
  const entries = [...new Set(apps.map((s) => entryOf(s, scripts)!))];
  const cli = Object.values(scripts).map((c) => /^node --import tsx (cli\/\S+)$/.exec(c)?.[1]).filter((x): x is string => x !== undefined);
  const folders = new Set(importClosure([...entries, ...cli]).map((f) => f.split('/')[0]!));
  assert.deepEqual([...folders].filter((f) => !copied.has(f)), [], 'folders the image lacks');
  assert.deepEqual([...copied].filter((f) => !folders.has(f)), [], 'folders the image copies for nothing');
});

// The processes themselves, with the compose environments: start-up checks, listeners, routes.
// They connect as a MariaDB user of this test holding exactly the init script's privileges (on
// this test's databases), so the migration shows they suffice.
const env = testEnv();
const root = testConfig(env);
const appUser = { name: `${env.DB_PREFIX}_app`, password: REQUIRED.MARIADB_PASSWORD };
let admin: MysqlPools;
let s: Storage | undefined;
before(async () => {
  admin = openMysql(root.mysql);
  await admin.main.query("CREATE USER ?@'%' IDENTIFIED BY ?", [appUser.name, appUser.password]);
  await admin.main.query(`GRANT ${appGrant()[1]} ON \`${root.mysql.dbPrefix}\\_%\`.* TO ?@'%'`, [appUser.name]);
});
after(async () => {
  await s?.close();
  await admin.main.query("DROP USER IF EXISTS ?@'%'", [appUser.name]);
  await admin.close();
});

/** A compose service's environment with this test's storage, MariaDB user and free ports. */
function localEnv(svc: Service): Record<string, string> {
  const mysqlUrl = new URL(root.mysql.url);
  mysqlUrl.username = appUser.name;
  mysqlUrl.password = appUser.password;
  return {
    ...serviceEnv(svc, REQUIRED), REDIS_URL: root.redis.url, MYSQL_URL: mysqlUrl.href,
    KEY_PREFIX: env.KEY_PREFIX!, DB_PREFIX: env.DB_PREFIX!, HOST: '127.0.0.1', PORT: '0', ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0',
    SINK_METRICS_HOST: '127.0.0.1', SINK_METRICS_PORT: '0', SHUTDOWN_READY_DELAY_MS: '0',
  };
}

test('the migration, the sink and the gateway start with the compose environments and answer their healthchecks', async () => {
  const [migrate] = ofRole('migrate');
  const run = spawnSync(process.execPath, ['--import', 'tsx', entryOf(migrate!, scripts)!], {
    cwd: ROOT, env: { ...process.env, ...localEnv(migrate!) }, encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /created \d+ table/);
  const [routines] = await admin.main.query('SELECT COUNT(*) AS n FROM information_schema.routines WHERE routine_schema LIKE ? AND definer LIKE ?',
    [`${root.mysql.dbPrefix}\\_%`, `${appUser.name}@%`]);
  assert.ok((routines as { n: number }[])[0]!.n > 0, 'the app user created the checkout routines');
  // Root's connection to the same databases: the prefix's keys and tables are deleted after.
  s = await openStorage(root);

  const sinkSvc = ofRole('sink')[0]!;
  const { sink, url } = await spawnMetricsSink(localEnv(sinkSvc));
  const gwSvc = ofRole('gateway')[0]!;
  const gw = await spawnGateway(localEnv(gwSvc));
  try {
    const sinkPath = healthcheckUrl(sinkSvc)!.pathname;
    await waitFor(async () => (await http('GET', `${url}${sinkPath}`)).status === 200, 10_000, `sink ${sinkPath}`);
    assert.equal((await http('GET', `${gw.url}${healthcheckUrl(gwSvc)!.pathname}`)).status, 200);
    assert.match(gw.log(), /"msg":"admin listening"/, 'the separate admin listener runs');
  } finally {
    await Promise.all([gw.stop(), sink.stop()]);
  }
});
