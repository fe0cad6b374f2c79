/** The env schema: defaults, bounds, names in errors, frozen result. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/index.ts';

test('defaults are usable for a local run', () => {
  const c = loadConfig({ APP_ENV: 'local' });
  assert.equal(c.http.port, 8080);
  assert.equal(c.redis.partitions, 16);
  assert.equal(c.adminToken, 'dev-admin-token');
  assert.equal(c.adminTokenIsDefault, true);
  assert.equal(c.http.allowUwsFallback, false);
});

test('the result is deeply frozen', () => {
  const c = loadConfig({ APP_ENV: 'local' });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.redis) && Object.isFrozen(c.redis.clusterNodes));
});

test('bad values fail with the variable name', () => {
  const bad: Record<string, string> = {
    PORT: '70000', PARTITIONS: '0', SHARD_DBS: 'two', KEY_PREFIX: 'Has-Caps', APP_ENV: 'staging',
    ALLOW_UWS_FALLBACK: 'maybe', ADMIT_GLOBAL_RPS: '1.5', ADMIN_TOKEN: 'short',
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
