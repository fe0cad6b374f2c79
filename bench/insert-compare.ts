/**
 * Issue 11: ways to write the sink's rows, on the same rows, in CPU µs per row of this process
 * (the client side: building the text and mysql2) and of MariaDB (from /proc), one statement of
 * --batch rows at a time into a fresh copy of a shard table. MariaDB's CPU is read twice: the
 * thread of our connection (only this session's work, however busy the shared server) and the
 * whole server. Each variant also answers whether it still sees a coupon id stored for another
 * claim (the sink's conflict detection).
 *   node --import tsx bench/insert-compare.ts [--rows=N] [--batch=N] [--repeat=N] [--only=a,b]
 * Needs the local Redis and MariaDB (`make services`); LOAD DATA LOCAL needs local_infile=ON
 * (MariaDB's default; the server of `make services` has it).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { type PoolConnection, raw, type ResultSetHeader } from 'mysql2/promise';
import { DatetimeText, insertHead, quote, RowText, type TemplateSql } from '../sink/insert-sql.ts';
import { runCleanup, onCleanup } from '../tools/harness/cleanup.ts';
import { cpuMeter, MACHINE } from '../tools/harness/cpu.ts';
import { benchConfig, openBenchStorage, serverFacts } from '../tools/harness/bench-storage.ts';
import { shardDbName, shardTableName } from '../core/shards.ts';

const DAY_MS = 86_400_000;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const TEMPLATE = { id: 'bench-cmp', name: 'bench "compare" \\ 🎟️', type: 'direct', value: 100, threshold: null,
  maxDiscount: null, validFrom: null, validTo: null, validDays: 30 } as const;

/** One record as the writer sees it (sink/entries.ts Item, flattened). */
interface Rec { couponId: string; userId: string; requestId: string; streamId: string; claimedAtMs: number }

/** A way to write one batch; returns rows that met another claim's row, or NaN when it cannot tell. */
interface Variant {
  readonly name: string;
  /** Prepares the fresh target table (and the connection's session) before the clock starts. */
  setup?(conn: PoolConnection, target: string): Promise<void>;
  write(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number>;
}

const ON_DUPLICATE = ' ON DUPLICATE KEY UPDATE conflicts = conflicts + ' +
  'IF(user_id <=> VALUES(user_id) AND request_id <=> VALUES(request_id), 0, 1)';
const OLD_COLUMNS = ['coupon_id', 'user_id', 'template_id', 'request_id', 'name', 'type', 'value', 'threshold',
  'max_discount', 'claimed_at', 'valid_from', 'valid_to', 'stream_id'];
const TEXT_COLUMNS = ['coupon_id', 'user_id', 'request_id', 'stream_id', 'claimed_at', 'valid_from', 'valid_to',
  'template_id', 'name', 'type', 'value', 'threshold', 'max_discount'];
const colList = TEXT_COLUMNS.map((c) => `\`${c}\``).join(',');

const rowText = new RowText();
const templateSql: TemplateSql = rowText.template(TEMPLATE);

/** The sink's INSERT before issue 11: placeholders, 13 values escaped by mysql2 per row. */
async function insertParams(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const params: unknown[] = [];
  for (const r of batch) {
    const claimedAt = new Date(r.claimedAtMs);
    params.push(r.couponId, r.userId, TEMPLATE.id, r.requestId, TEMPLATE.name, TEMPLATE.type, TEMPLATE.value, TEMPLATE.threshold,
      TEMPLATE.maxDiscount, claimedAt, claimedAt, new Date(r.claimedAtMs + TEMPLATE.validDays * DAY_MS), r.streamId);
  }
  const row = `(${OLD_COLUMNS.map(() => '?').join(',')})`;
  const [res] = await conn.query<ResultSetHeader>(`INSERT INTO ${target} (${OLD_COLUMNS.join(',')}) VALUES ` +
    `${batch.map(() => row).join(',')}${ON_DUPLICATE}`, params);
  return res.affectedRows - batch.length;
}

const textRows = (batch: readonly Rec[]) => batch.map((r) => rowText.row(r.couponId, r.userId, r.requestId, r.streamId, null, r.claimedAtMs, templateSql));

/** The sink's INSERT of issue 11 (sink/writer.ts): literals built as text, passed raw. */
async function insertText(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(`${insertHead(target)}?${ON_DUPLICATE}`, [raw(textRows(batch).join(','))]);
  return res.affectedRows - batch.length;
}

/** As insertText, the whole text as the query: mysql2 still scans it for placeholders (values = []). */
async function insertWholeText(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const [res] = await conn.query<ResultSetHeader>(`${insertHead(target)}${textRows(batch).join(',')}${ON_DUPLICATE}`);
  return res.affectedRows - batch.length;
}

/** As insertText, the ASCII columns' literals marked _ascii: the server skips converting them from utf8mb4. */
async function insertAsciiText(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const tail = `,_ascii${quote(TEMPLATE.id)},${quote(TEMPLATE.name)},_ascii${quote(TEMPLATE.type)},${TEMPLATE.value},NULL,NULL)`;
  const rows = batch.map((r) => {
    const claimed = dates.literal(r.claimedAtMs);
    return `(_ascii${quote(r.couponId)},_ascii${quote(r.userId)},_ascii${quote(r.requestId)},_ascii${quote(r.streamId)},${claimed},` +
      `${claimed},${dates.literal(r.claimedAtMs + TEMPLATE.validDays * DAY_MS)}${tail}`;
  });
  const [res] = await conn.query<ResultSetHeader>(`${insertHead(target)}?${ON_DUPLICATE}`, [raw(rows.join(','))]);
  return res.affectedRows - batch.length;
}

/** The per-row values in a table value constructor, the template's literals once in the SELECT. */
async function insertTvc(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const rows = batch.map((r) => {
    const claimed = dates.literal(r.claimedAtMs);
    return `(${quote(r.couponId)},${quote(r.userId)},${quote(r.requestId)},${quote(r.streamId)},${claimed},${claimed},` +
      `${dates.literal(r.claimedAtMs + TEMPLATE.validDays * DAY_MS)})`;
  });
  // a CTE names the constructor's columns (unnamed, they take the first row's values as names)
  const [res] = await conn.query<ResultSetHeader>(`${insertHead(target).replace(/ VALUES $/, '')} WITH v (c1,c2,c3,c4,c5,c6,c7) ` +
    `AS (VALUES ${rows.join(',')}) SELECT v.*${templateSql.tail.slice(0, -1)} FROM v ON DUPLICATE KEY UPDATE conflicts = ${target}.conflicts + ` +
    `IF(${target}.user_id <=> VALUES(user_id) AND ${target}.request_id <=> VALUES(request_id), 0, 1)`);
  return res.affectedRows - batch.length;
}

/** A server-side prepared statement of `batch.length` rows (binary protocol: the server parses it once per connection). */
async function insertPrepared(conn: PoolConnection, target: string, batch: readonly Rec[]): Promise<number> {
  const params: (string | number | Date | null)[] = [];
  for (const r of batch) {
    const claimedAt = new Date(r.claimedAtMs);
    params.push(r.couponId, r.userId, TEMPLATE.id, r.requestId, TEMPLATE.name, TEMPLATE.type, TEMPLATE.value, TEMPLATE.threshold,
      TEMPLATE.maxDiscount, claimedAt, claimedAt, new Date(r.claimedAtMs + TEMPLATE.validDays * DAY_MS), r.streamId);
  }
  const row = `(${OLD_COLUMNS.map(() => '?').join(',')})`;
  const [res] = await conn.execute<ResultSetHeader>(`INSERT INTO ${target} (${OLD_COLUMNS.join(',')}) VALUES ` +
    `${batch.map(() => row).join(',')}${ON_DUPLICATE}`, params);
  return res.affectedRows - batch.length;
}

// LOAD DATA's default format: tab-separated, backslash escapes, \N for NULL.
const TSV_ESCAPE = /[\\\t\n\0]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\0': '\\0' };
const tsv = (s: string) => s.replace(TSV_ESCAPE, (c) => TSV_ESCAPES[c]!);
const unquote = (literal: string) => literal.slice(1, -1);
const tsvTail = `\t${[TEMPLATE.id, TEMPLATE.name, TEMPLATE.type, String(TEMPLATE.value)].map(tsv).join('\t')}\t\\N\t\\N\n`;
const dates = new DatetimeText();

/** The batch as a LOAD DATA file, in TEXT_COLUMNS order. */
function tsvFile(batch: readonly Rec[]): Buffer {
  let out = '';
  for (const r of batch) {
    const claimed = unquote(dates.literal(r.claimedAtMs));
    out += `${tsv(r.couponId)}\t${tsv(r.userId)}\t${tsv(r.requestId)}\t${tsv(r.streamId)}\t${claimed}\t${claimed}\t` +
      `${unquote(dates.literal(r.claimedAtMs + TEMPLATE.validDays * DAY_MS))}${tsvTail}`;
  }
  return Buffer.from(out, 'utf8');
}

async function loadData(conn: PoolConnection, sql: string, batch: readonly Rec[]): Promise<ResultSetHeader> {
  const file = tsvFile(batch);
  const [res] = await conn.query<ResultSetHeader>({ sql, infileStreamFactory: () => Readable.from([file]) });
  return res;
}

const loadInto = (table: string, mode: 'IGNORE' | '') =>
  `LOAD DATA LOCAL INFILE 'batch' ${mode} INTO TABLE ${table} CHARACTER SET utf8mb4 (${colList})`;

// A session's temporary table, next to the target (the pool's connections have no default database).
const stagingOf = (target: string, engine: string) => `${target.slice(0, target.indexOf('.'))}.staging_${engine.toLowerCase()}`;
const stagingTable = (staging: string, engine: string) => `CREATE TEMPORARY TABLE IF NOT EXISTS ${staging} (
  coupon_id VARCHAR(48) NOT NULL, user_id VARCHAR(64) NOT NULL, request_id VARCHAR(72) NOT NULL, stream_id VARCHAR(32) NOT NULL,
  claimed_at DATETIME(3) NOT NULL, valid_from DATETIME(3) NOT NULL, valid_to DATETIME(3) NOT NULL, template_id VARCHAR(64) NOT NULL,
  name VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, type ENUM('direct','threshold','discount') NOT NULL,
  value BIGINT UNSIGNED NOT NULL, threshold BIGINT UNSIGNED NULL, max_discount BIGINT UNSIGNED NULL
) ENGINE=${engine} DEFAULT CHARSET=ascii COLLATE=ascii_bin`;

/** LOAD DATA into a session's staging table, then one INSERT … SELECT that keeps ON DUPLICATE KEY UPDATE. */
function staged(engine: string): Variant {
  return {
    name: `LOAD DATA into a ${engine} staging table + INSERT … SELECT … ON DUPLICATE KEY UPDATE`,
    setup: async (conn, target) => {
      await conn.query(stagingTable(stagingOf(target, engine), engine));
    },
    write: async (conn, target, batch) => {
      const staging = stagingOf(target, engine);
      await conn.query(`TRUNCATE TABLE ${staging}`);
      await loadData(conn, loadInto(staging, ''), batch);
      // the same rule as ON_DUPLICATE, the target's columns named (unqualified they are ambiguous here)
      const [res] = await conn.query<ResultSetHeader>(`INSERT INTO ${target} (${colList}) SELECT ${colList} FROM ${staging} ` +
        `ON DUPLICATE KEY UPDATE conflicts = ${target}.conflicts + IF(${target}.user_id <=> VALUES(user_id) AND ` +
        `${target}.request_id <=> VALUES(request_id), 0, 1)`);
      return res.affectedRows - batch.length;
    },
  };
}

const variants: Record<string, Variant> = {
  params: { name: 'multi-row INSERT, placeholders escaped by mysql2 (before)', write: insertParams },
  text: { name: 'multi-row INSERT, literals built as text (sink/insert-sql.ts)', write: insertText },
  'text-whole': { name: 'as "text", sent as the query string itself (no raw() value)', write: insertWholeText },
  'text-sorted': {
    name: 'as "text", rows sorted by coupon_id within the statement',
    write: (conn, target, batch) => insertText(conn, target, [...batch].sort((a, b) => (a.couponId < b.couponId ? -1 : 1))),
  },
  'text-ascii': { name: 'as "text", ASCII literals with the _ascii introducer', write: insertAsciiText },
  tvc: { name: 'INSERT … SELECT from a table value constructor, template literals once', write: insertTvc },
  prepared: { name: 'multi-row INSERT as a server-side prepared statement (execute)', write: insertPrepared },
  'load-ignore': {
    name: 'LOAD DATA LOCAL … IGNORE straight into the table (no conflict count; reference only)',
    write: async (conn, target, batch) => {
      await loadData(conn, loadInto(target, 'IGNORE'), batch);
      return NaN;
    },
  },
  'load-staging-memory': staged('MEMORY'),
  'load-staging-innodb': staged('InnoDB'),
  'text-no-idx-template': {
    name: 'as "text", table without idx_template (what that index costs)',
    setup: async (conn, target) => void await conn.query(`ALTER TABLE ${target} DROP INDEX idx_template`),
    write: insertText,
  },
  'text-no-secondary': {
    name: 'as "text", table without both secondary indexes',
    setup: async (conn, target) => void await conn.query(`ALTER TABLE ${target} DROP INDEX idx_template, DROP INDEX idx_user_claimed`),
    write: insertText,
  },
};

/**
 * `n` records in the order the sink meets them: runs of `batch / 16` per partition, each
 * partition's sequence rising, users spread over the id space (idx_user_claimed inserts at random).
 */
function records(n: number, batch: number, salt: string): Rec[] {
  const out: Rec[] = [];
  const run = Math.max(1, Math.floor(batch / 16));
  const t0 = Date.UTC(2026, 11, 4, 21, 0, 0);
  const ids = ["o'brien", 'back\\slash', 'plain'];
  for (let i = 0; i < n; i++) {
    const p = Math.floor(i / run) % 16;
    const seq = 1_795_308_542_000_000 + i;
    const u = (i * 2_654_435_761) % 4_294_967_291;
    out.push({ couponId: `0.0.${p}.${seq}`, userId: i % 97 === 0 ? `${ids[i % 3]}-${u}` : `u${salt}${u}`,
      requestId: `~bench.${i}`, streamId: `${Math.floor(t0 / 1000) + Math.floor(i / 4)}-${i % 4}`, claimedAtMs: t0 + Math.floor(i / 8) });
  }
  return out;
}

const chunks = <T>(xs: readonly T[], n: number): T[][] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));

/** Rows that met another claim's row, as the variant reports them: one redelivered row and one foreign row. */
async function conflictCheck(v: Variant, conn: PoolConnection, target: string, stored: readonly Rec[]): Promise<string> {
  const again = stored[0]!;
  const foreign = { ...stored[1]!, requestId: 'another-claim' };
  const seen = await v.write(conn, target, [again, foreign, ...records(3, 16, 'fresh')]);
  return Number.isNaN(seen) ? 'cannot tell' : seen === 1 ? 'yes (1 of 1)' : `WRONG (${seen} instead of 1)`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, batch: { type: 'string', default: '500' },
    repeat: { type: 'string', default: '3' }, only: { type: 'string' } } });
  const rows = Number(values.rows);
  const batchRows = Number(values.batch);
  const names = values.only ? values.only.split(',') : Object.keys(variants);
  for (const n of names) if (!variants[n]) throw new Error(`unknown variant ${n}; known: ${Object.keys(variants).join(', ')}`);
  const cfg = benchConfig('insertcmp');
  const st = await openBenchStorage(cfg);
  onCleanup('insert-compare storage', () => st.cleanup());
  const facts = await serverFacts(st);
  const db = `\`${shardDbName(cfg.mysql.dbPrefix, 0)}\``;
  const conn = await st.mysql.forDb(0).getConnection();
  onCleanup('insert-compare connection', async () => conn.release());
  const [[infile]] = await conn.query('SELECT @@local_infile AS on_') as unknown as [{ on_: number }[]];
  console.log(`insert-compare: ${rows} rows in statements of ${batchRows}, ${values.repeat} repeats; MariaDB ${facts.mariadbVersion}, ` +
    `local_infile=${infile!.on_}`);

  // MariaDB runs a connection on one thread (PROCESSLIST.TID): its CPU is this session's alone, while
  // the whole server's also holds InnoDB's background work and anyone else's queries.
  const [[me]] = await conn.query('SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()') as unknown as [{ tid: number }[]];
  const results = new Map<string, { runs: Run[]; conflicts: string }>();
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    // rotated, so no variant always runs first or last in a session
    const order = names.map((_, i) => names[(i + rep) % names.length]!);
    for (const name of order) {
      const v = variants[name]!;
      const target = `${db}.\`cmp_${name.replace(/-/g, '_')}\``;
      const all = records(rows, batchRows, `${rep}`);
      // warm-up on a scratch table: the JIT and the connection's session, not timed
      const scratch = `${db}.\`cmp_warm\``;
      for (const t of [scratch, target]) {
        await conn.query(`DROP TABLE IF EXISTS ${t}`);
        await conn.query(`CREATE TABLE ${t} LIKE ${db}.\`${shardTableName(0)}\``);
        await v.setup?.(conn, t);
      }
      for (const b of chunks(records(20 * batchRows, batchRows, `w${rep}`), batchRows)) await v.write(conn, scratch, b);
      const run = await measure(rows, { pid: facts.mariadbPid!, tid: me!.tid }, async () => {
        for (const b of chunks(all, batchRows)) await v.write(conn, target, b);
      });
      const [[count]] = await conn.query(`SELECT COUNT(*) AS n FROM ${target}`) as unknown as [{ n: number }[]];
      if (Number(count!.n) !== rows) throw new Error(`${name}: ${count!.n} rows stored of ${rows}`);
      const r = results.get(name) ?? { runs: [], conflicts: await conflictCheck(v, conn, target, all) };
      r.runs.push(run);
      results.set(name, r);
      console.log(`  ${name}: client ${run.client.toFixed(2)}, MariaDB thread ${run.thread.toFixed(2)}, MariaDB ${run.mariadb.toFixed(2)} µs/row; ` +
        `${Math.round(run.rowsPerS)} rows/s; other processes ${run.others.toFixed(2)} cores`);
      await conn.query(`DROP TABLE ${target}`);
      await conn.query(`DROP TABLE ${scratch}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = (name: string, k: keyof Run, digits = 1) => median(results.get(name)!.runs.map((r) => r[k])).toFixed(digits);
  console.log('\n| variant | client µs/row | MariaDB µs/row: its thread | MariaDB µs/row: whole server | rows/s | sees a foreign row |\n' +
    '|---|---:|---:|---:|---:|---|');
  for (const name of names) {
    console.log(`| ${variants[name]!.name} | ${med(name, 'client')} | ${med(name, 'thread')} | ${med(name, 'mariadb')} | ` +
      `${Number(med(name, 'rowsPerS', 0)).toLocaleString('en-US')} | ${results.get(name)!.conflicts} |`);
  }
  console.log(`\nMedians of ${values.repeat} runs; other processes kept ${med(names[0]!, 'others', 2)}–` +
    `${Math.max(...[...results.values()].flatMap((r) => r.runs.map((x) => x.others))).toFixed(2)} cores busy (median of the first variant – max).`);
}

interface Run { client: number; thread: number; mariadb: number; rowsPerS: number; others: number }

/** User+system CPU seconds of one thread (/proc/<pid>/stat would count the whole process). */
function threadSeconds(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** CPU µs per row of this process, MariaDB's thread of our connection and all of MariaDB while `f` runs, and the cores everything else used. */
async function measure(rows: number, mariadb: { pid: number; tid: number }, f: () => Promise<void>): Promise<Run> {
  const m = cpuMeter({ client: process.pid, mariadb: mariadb.pid });
  const thread0 = threadSeconds(mariadb.pid, mariadb.tid);
  const t0 = performance.now();
  await f();
  const seconds = (performance.now() - t0) / 1000;
  const thread = threadSeconds(mariadb.pid, mariadb.tid) - thread0;
  const cpu = new Map(m.finish().map((c) => [c.name, c.cpuS]));
  const perRow = (s: number) => (s / rows) * 1e6;
  return { client: perRow(cpu.get('client')!), thread: perRow(thread), mariadb: perRow(cpu.get('mariadb')!), rowsPerS: rows / seconds,
    others: (cpu.get(MACHINE)! - cpu.get('client')! - cpu.get('mariadb')!) / seconds };
}

main().then(async () => {
  for (const f of await runCleanup()) console.error(f);
  process.exit(0);
}, async (err) => {
  // the message only: a failed statement's text is megabytes
  console.error('insert-compare:', err instanceof Error ? err.message.slice(0, 2000) : err);
  for (const f of await runCleanup()) console.error(f);
  process.exit(1);
});
