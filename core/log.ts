/** One-line JSON logs on stderr; errors carry their message, not a stack dump per request. */

type Level = 'info' | 'warn' | 'error';

/** Writes one structured log line. */
export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line: Record<string, unknown> = { t: new Date().toISOString(), level, msg, ...fields };
  if (line.err instanceof Error) line.err = line.err.message;
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

const lastLogged = new Map<string, number>();

/** Like log(), but at most once per second per key (keys are fixed strings, never client input). */
export function logThrottled(key: string, level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const now = Date.now();
  if ((lastLogged.get(key) ?? 0) > now - 1000) return;
  lastLogged.set(key, now);
  log(level, msg, fields);
}
