/**
 * The text of the sink's multi-row INSERT (issue 11). With placeholders, mysql2 escaped 13
 * values and formatted 3 Dates per row. Here a template's literals are written once, when it is
 * loaded; a timestamp reuses the text of its hour; a row is one string of literals. Each literal
 * is the one mysql2 (sql-escaper) writes for the pools of core/mysql.ts (timezone 'Z'; backslash
 * escapes on, as their sql_mode has no NO_BACKSLASH_ESCAPES): the stored bytes are the same
 * (test/unit/insert-sql.test.ts, test/integration/sink/sink-insert-text.test.ts). Each coupon row
 * has a reminder row beside it, built in the same pass: the coupon filed under its expiry day.
 */

// Column order of the statement: per-row values first, then the template's, written once.
const COLUMNS = ['coupon_id', 'user_id', 'request_id', 'stream_id', 'amount', 'claimed_at', 'valid_from', 'valid_to',
  'template_id', 'name', 'type', 'value', 'threshold', 'max_discount'];

/** `INSERT INTO target (columns) VALUES ` for rows of row(). */
export const insertHead = (target: string) => `INSERT INTO ${target} (${COLUMNS.map((c) => `\`${c}\``).join(',')}) VALUES `;

/** `INSERT INTO target (expire_day, coupon_id) VALUES ` for rows of reminder(), into a coupon_reminder_<t> table. */
export const reminderHead = (target: string) => `INSERT INTO ${target} (\`expire_day\`,\`coupon_id\`) VALUES `;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
// The largest |ms| a Date holds; mysql2 writes NULL for an invalid Date.
const DATE_MAX_MS = 8.64e15;
// sql-escaper's set: the characters MySQL's lexer reads after a backslash.
const NEEDS_ESCAPE = /[\0\b\t\n\r\x1a"'\\]/;
const ESCAPE_ALL = /[\0\b\t\n\r\x1a"'\\]/g;
const ESCAPES: Record<string, string> = {
  '\0': '\\0', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1a': '\\Z', '"': '\\"', "'": "\\'", '\\': '\\\\',
};

/** A quoted string literal; an id (validated printable ASCII) almost never needs the replace. */
export function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? `'${s.replace(ESCAPE_ALL, (c) => ESCAPES[c]!)}'` : `'${s}'`;
}

/** The literal of a BIGINT as mysql2 reads it: a number, or a string past 2^53 (supportBigNumbers). */
export function numeric(v: number | string | null): string {
  if (v === null) return 'NULL';
  return typeof v === 'number' ? String(v) : quote(v);
}

// sql-escaper's padding, negative years included.
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
const pad4 = (n: number) => (n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : `${n}`);

/**
 * Quoted 'YYYY-MM-DD HH:MM:SS.mmm' of a UTC millisecond time, as mysql2 writes a Date with
 * timezone 'Z'. The date-and-hour prefix is cached: a batch's times share a few hours.
 */
export class DatetimeText {
  private readonly hours = new Map<number, string>();

  /** The literal of `ms` (an integer), or NULL where a Date would be invalid. */
  literal(ms: number): string {
    if (!(Math.abs(ms) <= DATE_MAX_MS)) return 'NULL';
    const hour = Math.floor(ms / HOUR_MS);
    let prefix = this.hours.get(hour);
    if (prefix === undefined) {
      const d = new Date(hour * HOUR_MS);
      // bounded: a running sink meets a new hour now and then, and one per use window length.
      if (this.hours.size >= 4096) this.hours.clear();
      prefix = `'${pad4(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:`;
      this.hours.set(hour, prefix);
    }
    const inHour = ms - hour * HOUR_MS;
    return `${prefix}${pad2(Math.floor(inHour / 60_000))}:${pad2(Math.floor(inHour / 1000) % 60)}.${pad3(inHour % 1000)}'`;
  }
}

/**
 * Quoted 'YYYY-MM-DD' of the UTC day of a millisecond time: the expire_day a reminder is filed
 * under. Cached per day: a batch's coupons expire on a few days.
 */
export class DayText {
  private readonly days = new Map<number, string>();

  /** The literal of `ms`'s UTC date, or NULL where a Date would be invalid. */
  literal(ms: number): string {
    if (!(Math.abs(ms) <= DATE_MAX_MS)) return 'NULL';
    const day = Math.floor(ms / DAY_MS);
    let text = this.days.get(day);
    if (text === undefined) {
      const d = new Date(day * DAY_MS);
      if (this.days.size >= 4096) this.days.clear();
      text = `'${pad4(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}'`;
      this.days.set(day, text);
    }
    return text;
  }
}

/** A template's fields as the sink reads them from coupon_template. */
export interface TemplateRow {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly value: number | string;
  readonly threshold: number | string | null;
  readonly maxDiscount: number | string | null;
  /** Fixed use window, or null when coupons are valid validDays after the claim. */
  readonly validFrom: Date | null;
  readonly validTo: Date | null;
  readonly validDays: number | null;
}

/** A template's part of every row, written once. */
export interface TemplateSql {
  /** `,valid_from,valid_to` of a fixed window, or null when they follow the claim time. */
  readonly window: string | null;
  /** Length of a relative use window in ms. */
  readonly windowMs: number;
  /** The expire_day literal of a fixed window, or null when it follows the claim time. */
  readonly expireDay: string | null;
  /** `,template_id,...,max_discount)`: the end of the row. */
  readonly tail: string;
}

/** Builds the row literals of one sink; holds the hour cache of its timestamps and the day cache of its reminders. */
export class RowText {
  private readonly dates = new DatetimeText();
  private readonly days = new DayText();

  /** The template's literals (once per template load). */
  template(t: TemplateRow): TemplateSql {
    const date = (d: Date | null) => (d === null ? 'NULL' : this.dates.literal(d.getTime()));
    return {
      window: t.validDays === null ? `,${date(t.validFrom)},${date(t.validTo)}` : null,
      windowMs: (t.validDays ?? 0) * DAY_MS,
      expireDay: t.validDays === null ? (t.validTo === null ? 'NULL' : this.days.literal(t.validTo.getTime())) : null,
      tail: `,${quote(t.id)},${quote(t.name)},${quote(t.type)},${numeric(t.value)},${numeric(t.threshold)},${numeric(t.maxDiscount)})`,
    };
  }

  /** One row `(...)` in the column order of insertHead(); `amount` is a red packet's (null for other coupons). */
  row(couponId: string, userId: string, requestId: string, streamId: string, amount: number | null, claimedAtMs: number,
    t: TemplateSql): string {
    const claimed = this.dates.literal(claimedAtMs);
    const window = t.window ?? `,${claimed},${this.dates.literal(claimedAtMs + t.windowMs)}`;
    return `(${quote(couponId)},${quote(userId)},${quote(requestId)},${quote(streamId)},${numeric(amount)},${claimed}${window}${t.tail}`;
  }

  /** One reminder row `(expire_day,coupon_id)` for reminderHead(): the coupon filed under the UTC day its window ends. */
  reminder(couponId: string, claimedAtMs: number, t: TemplateSql): string {
    return `(${t.expireDay ?? this.days.literal(claimedAtMs + t.windowMs)},${quote(couponId)})`;
  }
}
