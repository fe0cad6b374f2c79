/** GATEWAY_WORKERS: each worker's share of the gateway's budgets, and the supervisor's restart delays. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/index.ts';
import { adminShare, admissionShare, codesShare } from '../../gateway/worker-share.ts';
import { restartDelayMs } from '../../gateway/workers.ts';

const rates = { globalRps: 50_000, globalBurst: 5_000, templateRps: 20_000, templateBurst: 2_000 };

test('one worker keeps the configured rates', () => {
  assert.deepEqual(admissionShare(rates, 1), rates);
});

test('N workers each take 1/N, rounded up', () => {
  assert.deepEqual(admissionShare(rates, 2), { globalRps: 25_000, globalBurst: 2_500, templateRps: 10_000, templateBurst: 1_000 });
  assert.deepEqual(admissionShare(rates, 3), { globalRps: 16_667, globalBurst: 1_667, templateRps: 6_667, templateBurst: 667 });
  // Together they admit what is configured, at most N - 1 tokens more: never N times it.
  for (const n of [2, 3, 7, 64]) {
    const s = admissionShare(rates, n);
    for (const k of Object.keys(rates) as (keyof typeof rates)[]) {
      assert.ok(s[k] * n >= rates[k] && s[k] * n <= rates[k] + n - 1, `${k} over ${n} workers: ${s[k]}`);
    }
  }
});

test('a share is never 0, so a small setting still admits on every worker', () => {
  assert.deepEqual(admissionShare({ globalRps: 1, globalBurst: 3, templateRps: 1, templateBurst: 1 }, 4),
    { globalRps: 1, globalBurst: 1, templateRps: 1, templateBurst: 1 });
});

test('admin: a separate listener is worker 0 alone; public routes split the wrong-token budget', () => {
  const separate = loadConfig({ APP_ENV: 'local', ADMIN_ROUTES: 'separate' }).admin;
  assert.deepEqual(adminShare(separate, 3, 0), separate);
  assert.equal(adminShare(separate, 3, 1).routes, 'off');
  assert.equal(adminShare(separate, 3, 2).routes, 'off');
  const pub = loadConfig({ APP_ENV: 'local', ADMIN_FAILURE_BURST: '10', ADMIN_FAILURES_PER_MINUTE: '6' }).admin;
  assert.deepEqual(adminShare(pub, 1, 0), pub);
  const half = adminShare(pub, 2, 1);
  assert.deepEqual([half.routes, half.failureBurst, half.failuresPerMinute, half.maxAddresses], ['public', 5, 3, pub.maxAddresses]);
  const off = loadConfig({ APP_ENV: 'local', ADMIN_ROUTES: 'off' }).admin;
  assert.deepEqual(adminShare(off, 2, 1), off);
});

test('redemption failures: each worker takes 1/N of the budget, rounded up; the secret and caps stay whole', () => {
  const codes = loadConfig({ APP_ENV: 'local', REDEEM_FAILURE_BURST: '10', REDEEM_FAILURES_PER_MINUTE: '6' }).codes;
  assert.deepEqual(codesShare(codes, 1), codes);
  assert.deepEqual(codesShare(codes, 4), { ...codes, failureBurst: 3, failuresPerMinute: 2 });
});

test('restart delays double from 1 s and stop at 30 s, so a crash loop cannot spin', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map(restartDelayMs), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
});
