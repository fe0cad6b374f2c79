/**
 * The env schema's refusals: every bad variable in one error with its (masked) value and why,
 * unknown variables of the project's prefixes refused with a suggestion, the variables our own
 * Makefile and scripts hand to the processes accepted, and the result unchanged from the
 * hand-written parser it replaced (test/fixtures/config-snapshot.json, computed from it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../config/index.ts';
import { ConfigError } from '../../config/parse.ts';
import { settingRows } from '../../config/table.ts';

const ROOT = new URL('../../', import.meta.url);

/** The ConfigError loadConfig throws for `env`. */
function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  return assert.fail(`accepted: ${JSON.stringify(env)}`);
}

test('the result equals the hand-written parser\'s for the snapshot environments', () => {
  const snapshot = JSON.parse(readFileSync(new URL('test/fixtures/config-snapshot.json', ROOT), 'utf8')) as
    Record<string, { env: Record<string, string>; config: unknown }>;
  assert.ok(Object.keys(snapshot).length >= 4);
  for (const [label, { env, config }] of Object.entries(snapshot)) {
    const now = JSON.parse(JSON.stringify(loadConfig(env), (_k, v: unknown) => (v === undefined ? '<undefined>' : v)));
    assert.deepEqual(now, config, label);
  }
});

test('every bad variable is reported at once, with its value and why', () => {
  const err = refusal({
    APP_ENV: 'staging', PORT: '70000', SHARD_DBS: 'two', KEY_PREFIX: 'Has-Caps', ALLOW_UWS_FALLBACK: 'maybe',
    LOG_LEVEL: 'loud', GATEWAY_WORKERS: '2', GATEWAY_WORKER_INDEX: '2', SINK_BATCH_MAX_ROWS: '20001',
  });
  // in declaration order, then the rules between settings
  assert.deepEqual(err.issues.map((i) => [i.name, i.shown, i.why]), [
    ['APP_ENV', 'staging', 'expected one of local, test, production'],
    ['PORT', '70000', 'must be within [0, 65535]'],
    ['ALLOW_UWS_FALLBACK', 'maybe', 'expected true or false'],
    ['KEY_PREFIX', 'Has-Caps', 'expected [a-z][a-z0-9_]{0,30}'],
    ['SHARD_DBS', 'two', 'not an integer'],
    ['LOG_LEVEL', 'loud', 'expected one of trace, debug, info, warn, error, fatal, silent'],
    ['SINK_BATCH_MAX_ROWS', '20001', 'must be within [1, 20000]'],
    ['GATEWAY_WORKER_INDEX', '2', 'is not below GATEWAY_WORKERS=2'],
  ]);
  assert.match(err.message, /^config: 8 bad variables:\n {2}APP_ENV="staging": expected one of/);
  assert.match(err.message, /\n {2}PORT="70000": must be within \[0, 65535\]/);
});

test('secrets never appear in errors or in the rows; passwords inside URLs are hidden', () => {
  const err = refusal({ ADMIN_TOKEN: 'short-tok', CODE_SECRET: 'tiny-secret', ORDER_SERVICE_TOKEN: 'order-tok',
    USER_TOKEN_SECRETS: 'a'.repeat(32) + ',too-short-secret', ADMIN_TOKN: 'mistyped-token', MYSQL_URLS: 'mysql://u:pw1@h', REDIS_PASSWORD: 'pw5', MYSQL_PWD: 'pw6' });
  for (const secret of ['short-tok', 'tiny-secret', 'order-tok', 'too-short-secret', 'mistyped-token', 'pw1', 'pw5', 'pw6']) {
    assert.ok(!err.message.includes(secret), `${secret} shown in:\n${err.message}`);
  }
  assert.match(err.message, /ADMIN_TOKEN="<hidden>": must be at least 12 characters/);
  assert.match(err.message, /USER_TOKEN_SECRETS="<hidden>": every entry must be at least 32 characters/);
  assert.match(err.message, /REDIS_PASSWORD="<hidden>": not a setting \(npm run config lists them\)/);
  // an unknown variable's value is never shown: it may be anyone's secret.
  assert.match(err.message, /MYSQL_URLS="<hidden>": not a setting: did you mean MYSQL_URL\?/);
  const rows = settingRows({ APP_ENV: 'local', ADMIN_TOKEN: 'admin-token-123', CODE_SECRET: 'c'.repeat(40),
    USER_TOKEN_SECRETS: 'u'.repeat(32), ORDER_SERVICE_TOKEN: 'o'.repeat(16),
    MYSQL_URL: 'mysql://app:pw2@db:3306', MYSQL_SHARD_URLS: 'mysql://a:pw3@x,mysql://root@y', REDIS_URL: 'redis://:pw4@r:6379' });
  const text = JSON.stringify(rows);
  for (const secret of ['admin-token-123', 'c'.repeat(40), 'u'.repeat(32), 'o'.repeat(16), 'pw2', 'pw3', 'pw4']) assert.ok(!text.includes(secret), secret);
  const value = (name: string) => rows.find((r) => r.name === name)!.value;
  assert.equal(value('ADMIN_TOKEN'), '<hidden>');
  assert.deepEqual(value('USER_TOKEN_SECRETS'), ['<hidden>']);
  assert.equal(value('MYSQL_URL'), 'mysql://app:***@db:3306');
  assert.deepEqual(value('MYSQL_SHARD_URLS'), ['mysql://a:***@x', 'mysql://root@y']);
  assert.equal(value('ORDER_SERVICE_TOKEN'), '<hidden>');
  assert.equal(settingRows({}).find((r) => r.name === 'ORDER_SERVICE_TOKEN')!.value, null);
});

test('an unknown variable with a project prefix is refused, with the setting it probably meant', () => {
  const err = refusal({ APP_ENV: 'local', SINK_BATCH_MAX_ROW: '100', REDIS_COMMAND_TIMEOUT: '5', GRANT_RATE: '9', METRICS_SECRET_THING: 'x' });
  assert.deepEqual(err.issues.map((i) => [i.name, i.why]), [
    ['SINK_BATCH_MAX_ROW', 'not a setting: did you mean SINK_BATCH_MAX_ROWS?'],
    ['REDIS_COMMAND_TIMEOUT', 'not a setting: did you mean REDIS_COMMAND_TIMEOUT_MS?'],
    ['GRANT_RATE', 'not a setting: did you mean GRANT_RATE_DEFAULT?'],
    ['METRICS_SECRET_THING', 'not a setting (npm run config lists them)'],
  ]);
});

test('variables of other software and of our own tooling are not refused', () => {
  const env = {
    APP_ENV: 'test',
    // generic first words, not the project's own
    TEST_ONLY_FLAG: '1', DB_HOST: 'x', APP_NAME: 'x', LOG_DIR: '/tmp', USER_HOME: '/home', KEY_FILE: 'k',
    // Kubernetes service links of services named redis, sink and gateway
    REDIS_SERVICE_HOST: '10.0.0.1', REDIS_SERVICE_PORT: '6379', REDIS_PORT_6379_TCP_ADDR: '10.0.0.1', SINK_PORT: 'tcp://10.0.0.2:9464',
    GATEWAY_SERVICE_PORT_HTTP: '8080',
    // everyday environment
    PATH: '/bin', HOME: '/root', npm_lifecycle_event: 'config', NODE_OPTIONS: '', UWS_USE_FALLBACK: '1',
  };
  assert.doesNotThrow(() => loadConfig(env));
});

test('every variable the Makefile and the scripts hand to the processes is accepted', () => {
  const names = toolingNames();
  for (const n of ['REDIS_PORT', 'MYSQL_PORT', 'CLUSTER_PORTS', 'REDIS_APPENDFSYNC', 'MYSQL_SOCKET', 'APP_ENV', 'SINK_METRICS_PORT']) {
    assert.ok(names.has(n), `the scan missed ${n}`);
  }
  const refused = [...names].filter((n) => {
    try {
      loadConfig({ APP_ENV: 'test', [n]: '1' });
      return false;
    } catch (err) {
      return err instanceof ConfigError && err.issues.some((i) => i.name === n && i.why.startsWith('not a setting'));
    }
  });
  assert.deepEqual(refused, []);
});

/** Names the Makefile exports or sets on command lines, and the scripts read from or put in the environment. */
function toolingNames(): Set<string> {
  const names = new Set<string>();
  const add = (text: string, re: RegExp) => { for (const m of text.matchAll(re)) names.add(m[1]!); };
  const make = readFileSync(new URL('Makefile', ROOT), 'utf8').replaceAll('\\\n', ' ');
  add(make, /^([A-Z][A-Z0-9_]*)\s*\?=/gm);
  for (const line of make.match(/^export\s+.*$/gm) ?? []) add(line.slice(7), /\b([A-Z][A-Z0-9_]*)\b/g);
  for (const line of make.match(/^(?:TEST|LOCAL)_ENV\s*=.*$/gm) ?? []) add(line, /\b([A-Z][A-Z0-9_]*)=/g);
  for (const f of ['scripts/services.sh', 'scripts/lib/app.sh', 'scripts/lib/common.sh', 'scripts/lib/redis.sh',
    'scripts/lib/mariadb.sh', 'scripts/lib/cluster.sh', 'scripts/lib/topology.sh', 'scripts/lib/deps.sh', 'drill/services.sh', 'bench/pinned.sh']) {
    const sh = readFileSync(new URL(f, ROOT), 'utf8').replaceAll('\\\n', ' ');
    add(sh, /\$\{([A-Z][A-Z0-9_]*):-/g);
    for (const line of sh.match(/^\s*export\s+.*$/gm) ?? []) add(line, /\b([A-Z][A-Z0-9_]*)=/g);
    for (const line of sh.match(/^APP_ENV_CMD\+=.*$/gm) ?? []) add(line, /\b([A-Z][A-Z0-9_]*)=/g);
  }
  return names;
}

test('REDIS_WAIT_TIMEOUT_MS is at most half of REDIS_COMMAND_TIMEOUT_MS, checked only when a wait is asked for', () => {
  assert.doesNotThrow(() => loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '150' }));
  assert.throws(() => loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '150', REDIS_WAIT_REPLICAS: '1' }),
    /REDIS_WAIT_TIMEOUT_MS="100": is more than half of REDIS_COMMAND_TIMEOUT_MS=150/);
  assert.doesNotThrow(() => loadConfig({ REDIS_COMMAND_TIMEOUT_MS: '200', REDIS_WAIT_REPLICAS: '1' }));
  assert.doesNotThrow(() => loadConfig({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '125' }));
  assert.throws(() => loadConfig({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '126' }), /is more than half/);
});
