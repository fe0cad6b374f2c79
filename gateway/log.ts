/** One-line JSON logs on stderr; errors carry their message, not a stack dump per request. */

type Level = 'info' | 'warn' | 'error';

/** Writes one structured log line. */
export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line: Record<string, unknown> = { t: new Date().toISOString(), level, msg, ...fields };
  if (line.err instanceof Error) line.err = line.err.message;
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
