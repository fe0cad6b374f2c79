/** The env schema: defaults, bounds, names in errors, frozen result. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, workerEnv } from '../../config/index.ts';

test('defaults are usable for a local run', () => {
  const c = loadConfig({ APP_ENV: 'local' });
  assert.equal(c.http.port, 8080);
  assert.equal(c.redis.partitions, 16);
  assert.equal(c.adminToken, 'dev-admin-token');
  assert.equal(c.adminTokenIsDefault, true);
  assert.equal(c.http.allowUwsFallback, false);
  assert.equal(c.codes.secretIsDefault, true);
  assert.equal(loadConfig({ APP_ENV: 'local', CODE_SECRET: 'x'.repeat(32) }).codes.secretIsDefault, false);
});

test('the result is deeply frozen', () => {
  const c = loadConfig({ APP_ENV: 'local' });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.redis) && Object.isFrozen(c.redis.clusterNodes));
});

test('bad values fail with the variable name', () => {
  const bad: Record<string, string> = {
    PORT: '70000', PARTITIONS: '0', SHARD_DBS: 'two', KEY_PREFIX: 'Has-Caps', APP_ENV: 'staging',
    ALLOW_UWS_FALLBACK: 'maybe', ADMIT_GLOBAL_RPS: '1.5', ADMIN_TOKEN: 'short', CODE_SECRET: 'short', REDEEM_FAILURE_BURST: '0',
  };
  for (const [name, value] of Object.entries(bad)) {
    assert.throws(() => loadConfig({ APP_ENV: 'local', [name]: value }), new RegExp(name), name);
  }
});

test('lists and booleans parse', () => {
  const c = loadConfig({ APP_ENV: 'local', REDIS_CLUSTER_NODES: 'a:1, b:2,', ALLOW_UWS_FALLBACK: 'yes', ADMIN_TOKEN: 'a-long-enough-token' });
  assert.deepEqual(c.redis.clusterNodes, ['a:1', 'b:2']);
  assert.equal(c.http.allowUwsFallback, true);
  assert.equal(c.adminTokenIsDefault, false);
});

test('gateway workers: one by default, a worker index below the count, the worker env names both', () => {
  const c = loadConfig({ APP_ENV: 'local' });
  assert.deepEqual({ ...c.workers }, { count: 1, index: undefined });
  assert.deepEqual({ ...loadConfig({ APP_ENV: 'local', GATEWAY_WORKERS: '4', GATEWAY_WORKER_INDEX: '3' }).workers }, { count: 4, index: 3 });
  for (const [count, index] of [['0', ''], ['65', ''], ['2', '2'], ['2', '-1'], ['2', 'x']] as const) {
    assert.throws(() => loadConfig({ APP_ENV: 'local', GATEWAY_WORKERS: count, GATEWAY_WORKER_INDEX: index }), /GATEWAY_WORKER/, `${count}/${index}`);
  }
  const env = workerEnv(1, 4242, { APP_ENV: 'local', GATEWAY_WORKERS: '2', PORT: '0' });
  assert.deepEqual(env, { APP_ENV: 'local', GATEWAY_WORKERS: '2', PORT: '4242', GATEWAY_WORKER_INDEX: '1' });
  assert.deepEqual({ ...loadConfig(env).workers }, { count: 2, index: 1 });
});
