/**
 * The one log of every process (gateway, its supervisor, sink, CLIs): pino, one JSON line per
 * record on stderr with level, time, role and pid. A process names its role and level once at
 * start (initLog); code below the processes logs through log()/logThrottled() or a
 * rate-limited Log. Nothing here runs per claim: the claim path logs only unexpected failures.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
type LineLevel = Exclude<LogLevel, 'silent'>;
type Fields = Record<string, unknown>;

// Synchronous writes to stderr, deliberately: a process that logs a fatal error and calls
// process.exit() at once must not lose that last line, which an asynchronous (buffered)
// destination would unless every exit path flushed it first. The volume is small (nothing per
// claim, one line per admin request, errors rate-limited), so one write(2) per line costs
// nothing that matters.
let stderr: ReturnType<typeof pino.destination> | undefined;

/**
 * A logger for `role` at `level`; `write` receives each line (without its newline) instead of
 * stderr (tests, tools that keep lines). `fields` go on every line (e.g. a gateway worker's index).
 */
export function createLogger(role: string, level: LogLevel = 'info', write?: (line: string) => void, fields: Fields = {}): Logger {
  const dest = write ? { write: (s: string) => write(s.endsWith('\n') ? s.slice(0, -1) : s) }
    : (stderr ??= pino.destination({ dest: 2, sync: true }));
  return pino({
    level,
    base: { role, pid: process.pid, ...fields },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "info", not 30: lines stay readable with grep; pino-pretty reads either.
    formatters: { level: (label) => ({ level: label }) },
    // An Error gets type, message, stack and its own fields (code); shortErr's object passes as is.
    serializers: { err: (e: unknown) => (e instanceof Error ? pino.stdSerializers.err(e) : e) },
  }, dest);
}

let current: Logger | undefined;

/** Sets this process's logger (its role and LOG_LEVEL); call once at start, before other lines. */
export function initLog(role: string, level: LogLevel = 'info', fields: Fields = {}): Logger {
  current = createLogger(role, level, undefined, fields);
  return current;
}

/** This process's logger; before initLog, one at info with role "process" (tests, in-process stacks). */
export function processLog(): Logger {
  return (current ??= createLogger('process'));
}

/**
 * Type, message and code of an error, without its stack: for repeated operational errors
 * (Redis down, a MySQL retry) whose stack says nothing new each time. Non-errors as text.
 */
export function shortErr(err: unknown): Fields | string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return code === undefined ? { type: err.name, message: err.message } : { type: err.name, message: err.message, code };
}

/** Writes one line on the process's logger; an `err` field gets pino's serializer (with its stack). */
export function log(level: LineLevel, msg: string, fields: Fields = {}): void {
  processLog()[level](fields, msg);
}

/**
 * Lets a key through at most once per `gapMs` and counts what it held back, so a line that
 * follows a burst can say how many were skipped.
 */
export class RateLimit {
  private readonly last = new Map<string, { at: number; skipped: number }>();
  constructor(private readonly gapMs: number) {}

  /** undefined when `key` passed within gapMs (counted as skipped); else how many were skipped since it last passed. */
  pass(key: string, now = Date.now()): number | undefined {
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.gapMs) {
      seen.skipped++;
      return undefined;
    }
    // bounded: keys are a handful of fixed names plus one per shard table or partition.
    if (this.last.size > 10_000) this.last.clear();
    this.last.set(key, { at: now, skipped: 0 });
    return seen?.skipped ?? 0;
  }
}

/** Fields of a rate-limited line: its key, the error short, and the skipped count when there is one. */
function limitedFields(key: string, skipped: number, err: unknown, fields: Fields): Fields {
  const out: Fields = { key, ...fields };
  if (err !== undefined) out.err = shortErr(err);
  if (skipped > 0) out.skipped = skipped;
  return out;
}

const throttle = new RateLimit(1000);

/**
 * Like log(), but at most once per second per key (keys are fixed strings, never client
 * input), with a `skipped` count of the lines held back; an `err` field is logged short.
 */
export function logThrottled(key: string, level: LineLevel, msg: string, fields: Fields = {}): void {
  const skipped = throttle.pass(key);
  if (skipped === undefined) return;
  const { err, ...rest } = fields;
  processLog()[level](limitedFields(key, skipped, err, rest), msg);
}

/** A log whose errors are rate-limited per key (the sink's: a dead MySQL would print a line per retry of every shard). */
export interface Log {
  /** One progress or lifecycle line. */
  info(msg: string, fields?: Fields): void;
  /** An error; repeats of the same `key` print at most once per gap, the next one with a `skipped` count. */
  error(key: string, msg: string, err?: unknown, fields?: Fields): void;
  /** An error line that is never rate-limited, for callers that bound their own lines (one per finding per pass). */
  alert(msg: string, fields?: Fields): void;
}

/** A Log over `logger` whose errors pass once per `gapMs` per key. */
export function rateLimitedLog(logger: Logger, gapMs = 1000): Log {
  const limit = new RateLimit(gapMs);
  return {
    info: (msg, fields = {}) => logger.info(fields, msg),
    alert: (msg, fields = {}) => logger.error(fields, msg),
    error: (key, msg, err, fields = {}) => {
      const skipped = limit.pass(key);
      if (skipped !== undefined) logger.error(limitedFields(key, skipped, err, fields), msg);
    },
  };
}
