/**
 * Sink logging: plain lines on stderr. Errors are rate-limited per key, because a dead MySQL or
 * Redis would otherwise print one line per retry of every shard and drown the useful lines.
 * Alerts are not: each says something of its own (the reconciler's line per wrong template) and
 * their callers bound how many they print.
 */

export interface Log {
  /** One progress or lifecycle line. */
  info(msg: string): void;
  /** An error; repeats of the same `key` print at most once per `gapMs`, with a skipped count. */
  error(key: string, msg: string, err?: unknown): void;
  /** An error line that is never rate-limited, for callers that bound their own lines (one per finding per pass). */
  alert(msg: string): void;
}

/** Text of any thrown value, with the MySQL/Redis error code when there is one. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** A logger writing through `write` (stderr by default). */
export function createLog(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`), gapMs = 1000): Log {
  const last = new Map<string, { at: number; skipped: number }>();
  const line = (level: string, msg: string) => write(`${new Date().toISOString()} sink ${level} ${msg}`);
  return {
    info: (msg) => line('info', msg),
    alert: (msg) => line('error', msg),
    error: (key, msg, err) => {
      const now = Date.now();
      const seen = last.get(key);
      if (seen && now - seen.at < gapMs) {
        seen.skipped++;
        return;
      }
      const more = seen && seen.skipped > 0 ? ` (+${seen.skipped} similar)` : '';
      last.set(key, { at: now, skipped: 0 });
      // bounded: keys are a handful of fixed names plus one per shard table.
      if (last.size > 10_000) last.clear();
      line('error', `${msg}${err === undefined ? '' : `: ${errorText(err)}`}${more}`);
    },
  };
}
