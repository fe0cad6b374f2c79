/** Reading the processes' JSON log lines (core/log.ts) back: tests, tools and the drill wait on them. */

/** One parsed log line. */
export interface LogRecord {
  readonly level: string;
  readonly time: string;
  readonly role: string;
  readonly pid: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Every JSON log line of `text`; other lines (a tool's own output, a line cut by a tail) are skipped. */
export function logRecords(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"level":')) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line still being written, or cut at the start of a tail.
    }
  }
  return out;
}

/** The records of `text` whose message is `msg`. */
export function logsWith(text: string, msg: string): LogRecord[] {
  return logRecords(text).filter((r) => r.msg === msg);
}

/** The first record of `text` whose message is `msg`, if any. */
export function findLog(text: string, msg: string): LogRecord | undefined {
  return logRecords(text).find((r) => r.msg === msg);
}
