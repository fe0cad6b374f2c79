/**
 * Rebuild CLI: `npm run rebuild -- --all` or `npm run rebuild -- --template ID [--template ID ...]`
 * restores Redis from MySQL (rebuild.ts explains how and why it cannot over-issue). Prints
 * one row per template (a progress bar on a terminal) and exits 1 if any template failed or shows a broken invariant.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config/index.ts';
import { createRedis, type RedisClient, waitReady } from '../lua/client.ts';
import { checkLayout, layoutFacts } from '../lua/layout.ts';
import { assertBinaryIds } from '../core/collation.ts';
import { type MysqlPools, openMysql } from '../core/mysql.ts';
import { isId } from '../core/ids.ts';
import { allTemplateIds, rebuildDeps, type RebuildReport, rebuildTemplate, withRebuildLock } from '../templates/rebuild/rebuild.ts';
import { cliProgram } from './command-line.ts';
import { progressBar } from './progress.ts';
import { initLog, log } from '../core/log.ts';
// A running sink passes a drain point within its batch wait (100 ms by default); 30 s also
// covers a sink restarting, and bounds how long the template answers 503.
const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

interface Args {
  readonly all: boolean;
  readonly ids: string[];
  readonly drainTimeoutMs: number;
}

// typed: program.error() then ends control flow for the compiler.
const program: Command = cliProgram('rebuild', 'Restores Redis from MySQL for every template (--all) or the ones named.')
  .option('--all', 'every template')
  .option('--template <id>', 'a template to rebuild (repeat for more)', (id: string, ids: string[] = []) => [...ids, id])
  .option('--drain-timeout-ms <n>', `how long to wait for the sink to store what the streams hold (default ${DEFAULT_DRAIN_TIMEOUT_MS})`);

/** The options, checked: exactly one of --all and --template, ids and the timeout well formed. */
function parse(): Args {
  const values = program.parse().opts<{ all?: boolean; template?: string[]; drainTimeoutMs?: string }>();
  const ids = values.template ?? [];
  const all = values.all === true;
  if (all === ids.length > 0) throw new Error('give either --all or at least one --template ID');
  const bad = ids.find((id) => !isId(id));
  if (bad !== undefined) throw new Error(`--template ${bad}: 1-64 characters of [A-Za-z0-9_.:-]`);
  const raw = values.drainTimeoutMs;
  const drainTimeoutMs = raw === undefined ? DEFAULT_DRAIN_TIMEOUT_MS : Number(raw);
  if (!Number.isSafeInteger(drainTimeoutMs) || drainTimeoutMs < 0) throw new Error('--drain-timeout-ms: a whole number of ms');
  return { all, ids: [...new Set(ids)], drainTimeoutMs };
}

const COLUMNS = ['template', 'total', 'issued', 'dead', 'remaining', 'users', 'replays', 'kept', 'outcome'];
const WIDTHS = [24, 10, 10, 6, 10, 10, 10, 6, 0];

function row(cells: (string | number | undefined)[]): string {
  return cells.map((c, i) => String(c ?? '-').padEnd(WIDTHS[i]!)).join(' ').trimEnd();
}

/** One table row, and the message (if any) on the next line. */
function reportLine(r: RebuildReport): string {
  const c = r.counts;
  const line = row([r.id, r.total, c?.issued, r.deadLetters, r.remaining, c?.users, c?.replays, c?.kept, r.outcome]);
  return r.message === undefined ? line : `${line}\n  ${r.outcome === 'failed' ? 'error' : 'VIOLATION'}: ${r.message}`;
}

async function run(args: Args): Promise<boolean> {
  const cfg = loadConfig();
  initLog('rebuild', cfg.log.level);
  const ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  // An admin tool waits longer on Redis than a claim does (renames of large hashes, HSET chunks).
  const redis: RedisClient = createRedis({ ...cfg.redis, commandTimeoutMs: cfg.sink.redisTimeoutMs }, { offlineQueue: true, name: 'rebuild' });
  redis.on('error', () => undefined); // failed commands report themselves; reconnects are silent
  const mysql: MysqlPools = openMysql(cfg.mysql);
  try {
    await waitReady(redis, 10_000);
    // A Redis that lost everything lost the layout facts too: pin them again (or refuse a mismatch).
    await checkLayout(redis, ks, layoutFacts(cfg));
    await assertBinaryIds(mysql, cfg.mysql);
    const bar = progressBar('rebuild', 0, 'templates');
    const deps = rebuildDeps(cfg, redis, mysql, {
      drainTimeoutMs: args.drainTimeoutMs, progress: (line) => bar.log(`rebuild: ${line}`),
    });
    try {
      return await withRebuildLock(mysql, cfg.mysql.dbPrefix, async () => {
        const ids = args.all ? await allTemplateIds(deps.store) : args.ids;
        bar.update(0, { total: ids.length });
        console.log(row(COLUMNS));
        let ok = true;
        for (const [i, id] of ids.entries()) {
          bar.update(i, { detail: id });
          const r = await rebuildTemplate(deps, id);
          console.log(reportLine(r));
          ok &&= r.outcome === 'rebuilt' || r.outcome === 'initialised';
        }
        bar.stop();
        console.log(`${ids.length} template(s): ${ok ? 'all rebuilt' : 'SOME FAILED (see above)'}`);
        return ok;
      });
    } finally {
      bar.stop();
    }
  } finally {
    await mysql.close();
    redis.disconnect();
  }
}

let args: Args;
try {
  args = parse();
} catch (err) {
  program.error(err instanceof Error ? err.message : String(err));
}
run(args).then((ok) => process.exit(ok ? 0 : 1), (err: unknown) => {
  // Unexpected (storage away, a bug): logged whole, with its stack; the report lines above stay for people.
  log('fatal', 'rebuild failed', { err });
  process.exit(1);
});
