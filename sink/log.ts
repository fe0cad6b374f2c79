/**
 * The sink's log: the process's pino logger (core/log.ts) with errors rate-limited per key,
 * because a dead MySQL or Redis would otherwise print one line per retry of every shard and
 * drown the useful lines. Alerts are not: each says something of its own (the reconciler's
 * line per wrong template) and their callers bound how many they print.
 */
import { createLogger, type Log, processLog, rateLimitedLog } from '../core/log.ts';

export type { Log } from '../core/log.ts';

/** The sink's log on the process's logger, or on lines handed to `write` (tests, tools that keep them). */
export function createLog(write?: (line: string) => void, gapMs = 1000): Log {
  return rateLimitedLog(write ? createLogger('sink', 'info', write) : processLog(), gapMs);
}
