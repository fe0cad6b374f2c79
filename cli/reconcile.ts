/**
 * `npm run reconcile [-- --json]`: one reconciliation pass now (reconcile/), under the same
 * lease as the sink's periodic job. Prints what it found and repaired; exits 1 when something
 * needs a person, 2 when it could not run (bad arguments, another holder of the lease).
 */
import { hostname } from 'node:os';
import { loadConfig } from '../config/index.ts';
import { cliProgram } from './command-line.ts';
import { createRedis, waitReady } from '../lua/client.ts';
import { openMysql } from '../core/mysql.ts';
import { reconcileCtx } from '../reconcile/context.ts';
import { Lease } from '../reconcile/lease.ts';
import { reconcileOnce } from '../reconcile/reconcile.ts';
import { attention, notes, summary } from '../reconcile/report-lines.ts';
import { initLog } from '../core/log.ts';

const args = cliProgram('reconcile', 'One reconciliation pass now, under the sink\'s lease: what it found and repaired.')
  .option('--json', 'print the report as JSON', false)
  .parse()
  .opts<{ json: boolean }>();

const cfg = loadConfig();
initLog('reconcile', cfg.log.level);
const redis = createRedis({ ...cfg.redis, commandTimeoutMs: cfg.sink.redisTimeoutMs }, { offlineQueue: true, name: 'reconcile' });
redis.on('error', () => undefined);
const mysql = openMysql(cfg.mysql);
let code = 0;
try {
  await waitReady(redis, 10_000);
  const c = reconcileCtx(cfg, redis, mysql);
  const lease = new Lease(redis, c.ks, `cli-${hostname()}-${process.pid}`, cfg.reconcile.leaseMs);
  const got = await lease.take();
  if (!got.ok) {
    console.error(`reconcile: ${got.holder} holds the reconciler lease (it runs in the sink); try again later`);
    code = 2;
  } else {
    try {
      const r = await reconcileOnce(c);
      const needs = attention(r);
      if (args.json) console.log(JSON.stringify({ ...r, attention: needs }, null, 2));
      else {
        console.log(summary(r));
        for (const line of notes(r)) console.log(`  ${line}`);
        for (const line of needs) console.log(`needs attention: ${line}`);
      }
      code = needs.length > 0 ? 1 : 0;
    } finally {
      await lease.drop();
    }
  }
} catch (err) {
  console.error(`reconcile: ${(err as Error).message}`);
  code = 1;
} finally {
  redis.disconnect();
  await mysql.close();
}
process.exit(code);
