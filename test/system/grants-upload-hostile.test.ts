/**
 * Hostile uploads of a grant's user list (issue 12, brief invariant 6): odd but valid text is
 * read as the ids it names; bad bytes are a 400 naming the line; more than 10,000,000 lines is
 * refused without holding them; a client that stalls or goes away mid-upload leaves no job and
 * no listed users behind; a client streaming fast while MySQL is stuck does not grow the
 * gateway's memory (the socket is paused).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type ClientRequest, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { ADMIN, createTemplate } from '../support/http.ts';
import { postGrant } from '../support/grants.ts';
import { openStack, type Stack } from '../support/stack.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { testEnv } from '../../tools/harness/storage.ts';
import { mainDbName } from '../../core/shards.ts';

// A long MySQL timeout: the memory test holds MySQL stuck for seconds, it must not fail the upload.
const env = testEnv({ GRANT_UPLOAD_IDLE_MS: '600', MYSQL_QUERY_TIMEOUT_MS: '30000' });
let st: Stack;
let url: string;
let db: string;

before(async () => {
  st = await openStack(env);
  url = st.gw.url;
  db = `\`${mainDbName(st.s.cfg.mysql.dbPrefix)}\``;
});
after(() => st?.close());

const TEXT = { 'content-type': 'text/plain' };

interface Upload {
  status: number;
  json: any;
}

/**
 * Streams a text upload of `length` bytes from `chunks`, honoring backpressure; `abortAfter`
 * destroys the socket after that many chunks. Resolves with the answer, or status 0 when none came.
 */
function streamUpload(templateId: string, length: number, chunks: Iterable<Buffer>, abortAfter = Infinity): Promise<Upload> {
  return new Promise((resolve) => {
    const req = request(`${url}/v1/admin/templates/${templateId}/grants`, {
      method: 'POST', headers: { ...ADMIN, ...TEXT, 'content-length': String(length) },
    }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (c: Buffer) => got.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(got).toString() || 'null') }));
      res.on('error', () => resolve({ status: 0, json: null }));
    });
    req.on('error', () => resolve({ status: 0, json: null }));
    void (async () => {
      let n = 0;
      for (const c of chunks) {
        if (req.destroyed) return;
        if (n++ === abortAfter) {
          req.destroy();
          resolve({ status: 0, json: null });
          return;
        }
        if (!req.write(c)) await drainOrClose(req);
      }
    })();
  });
}

/** Resolves when the request drains or closes, leaving no listener behind. */
function drainOrClose(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done).off('close', done);
      resolve();
    };
    req.on('drain', done).on('close', done);
  });
}

/** Listed users stored under no job (an upload that failed and was not cleaned), and the jobs of a template. */
async function orphans(templateId: string): Promise<{ users: number; jobs: number }> {
  const [u] = await st.s.mysql.main.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${db}.coupon_grant_user gu
    WHERE NOT EXISTS (SELECT 1 FROM ${db}.coupon_grant g WHERE g.grant_id = gu.grant_id)`);
  const [j] = await st.s.mysql.main.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${db}.coupon_grant WHERE template_id = ?`, [templateId]);
  return { users: Number(u[0]!.n), jobs: Number(j[0]!.n) };
}

/** The gateway's resident memory in bytes (Linux). */
function gatewayRss(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${st.gw.child.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** `count` ids of one line each, `per` lines a chunk. */
function* idLines(prefix: string, count: number, per: number): Generator<Buffer> {
  for (let i = 0; i < count; i += per) {
    yield Buffer.from(Array.from({ length: Math.min(per, count - i) }, (_, k) => `${prefix}${i + k}\n`).join(''));
  }
}

test('odd but valid text: CRLF, blank lines, no final newline, a 64-byte id', async () => {
  const t = await createTemplate(url, { name: 'odd', type: 'direct', value: 1, totalStock: 100 });
  const id64 = 'x'.repeat(64);
  const r = await postGrant(url, t.id, `\r\na\r\n\r\n\nb\n${id64}\r\nB\nc`, TEXT);
  assert.equal(r.status, 202, r.raw.toString());
  assert.equal(r.json.total, 5, 'a, b, B, c and the 64-byte id');
  const only = await postGrant(url, t.id, 'solo', TEXT);
  assert.equal(only.json.total, 1);
  // A UTF-8 byte order mark (Notepad, Excel's "CSV UTF-8") is not part of the first id.
  const bom = await postGrant(url, t.id, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${id64}\r\nd\r\n`)]), TEXT);
  assert.equal(bom.status, 202, bom.raw.toString());
  assert.equal(bom.json.total, 2);
});

test('bad bytes are a 400 naming the line; a body of blank lines names no one', async () => {
  const t = await createTemplate(url, { name: 'bytes', type: 'direct', value: 1, totalStock: 100 });
  const cases: [Buffer, RegExp][] = [
    [Buffer.from(`a\n${'y'.repeat(65)}\n`), /line 2/],
    [Buffer.from('a\nb\u0000c\n', 'latin1'), /line 2/],
    [Buffer.concat([Buffer.from('a\n\n'), Buffer.from('é\n')]), /line 3/],
    [Buffer.from([0x61, 0x0a, 0xff, 0xfe, 0x0a]), /line 2/],
    [Buffer.from('a\n b\n'), /line 2/],
    [Buffer.from('a\rb\rc\r'), /line 1/],
    [Buffer.concat([Buffer.from('a\n'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('b\n')]), /line 2/],
  ];
  for (const [body, line] of cases) {
    const r = await postGrant(url, t.id, body, TEXT);
    assert.equal(r.status, 400, `${JSON.stringify(body.toString('latin1'))}: ${r.raw.toString()}`);
    assert.match(r.json.message, line);
  }
  const blank = await postGrant(url, t.id, '\n\r\n\n', TEXT);
  assert.equal(blank.status, 400);
  assert.match(blank.json.message, /no user/);
  await waitFor(async () => (await orphans(t.id)).users === 0, 5_000, 'failed uploads cleaned');
  assert.equal((await orphans(t.id)).jobs, 0);
});

test('wrong content types are a 415; an unknown template a 404, a paused one takes the list', async () => {
  const t = await createTemplate(url, { name: 'types', type: 'direct', value: 1, totalStock: 100 });
  for (const ct of ['text/csv', 'application/octet-stream', 'text/plainx', 'multipart/form-data; boundary=x', 'text/plain; charset=utf-16']) {
    const r = await postGrant(url, t.id, 'a\n', { 'content-type': ct });
    assert.equal(r.status, 415, `${ct}: ${r.raw.toString()}`);
  }
  const unknown = await postGrant(url, 'nope', 'a\nb\n', TEXT);
  assert.equal(unknown.status, 404);
  assert.equal((await postGrant(url, t.id, 'a\n', { 'content-type': 'TEXT/PLAIN;CHARSET=UTF-8' })).status, 202);
});

test('10,000,001 lines: refused at the line past the bound, nothing left behind', async () => {
  const t = await createTemplate(url, { name: 'lines', type: 'direct', value: 1, totalStock: 100 });
  // Ids then blank lines: every line counts toward the bound, the blank ones cost no MySQL.
  const head = Buffer.from(Array.from({ length: 5000 }, (_, i) => `l${i}\n`).join(''));
  const blankLines = 10_000_001 - 5000;
  const blank = Buffer.alloc(1 << 20, '\n');
  const length = head.length + blankLines;
  function* body(): Generator<Buffer> {
    yield head;
    let left = blankLines;
    for (; left > 0; left -= blank.length) yield left >= blank.length ? blank : blank.subarray(0, left);
  }
  const r = await streamUpload(t.id, length, body());
  assert.equal(r.status, 400, JSON.stringify(r.json));
  assert.match(r.json.message, /at most 10000000 lines/);
  await waitFor(async () => (await orphans(t.id)).users === 0, 10_000, 'the refused upload cleaned');
  assert.equal((await orphans(t.id)).jobs, 0);
});

test('a client that stalls mid-upload gets a 408; one that aborts leaves no job and no users', async () => {
  const t = await createTemplate(url, { name: 'stall', type: 'direct', value: 1, totalStock: 100 });
  // Declares more bytes than it sends: after 5,000 ids (a stored batch and more) it goes silent.
  const sent = [...idLines('s', 5000, 1000)];
  const length = sent.reduce((n, b) => n + b.length, 0) + 1000;
  const stalled = await streamUpload(t.id, length, (function* () { yield* sent; })());
  assert.equal(stalled.status, 408, JSON.stringify(stalled.json));
  const aborted = await streamUpload(t.id, length + 10_000_000, idLines('q', 100_000, 1000), 50);
  assert.equal(aborted.status, 0);
  await waitFor(async () => (await orphans(t.id)).users === 0, 10_000, 'stalled and aborted uploads cleaned');
  assert.equal((await orphans(t.id)).jobs, 0);
});

test('a client streaming fast while MySQL is stuck: the gateway holds a bounded buffer, then takes the list', async () => {
  const t = await createTemplate(url, { name: 'rss', type: 'direct', value: 1, totalStock: 100 });
  const before = gatewayRss();
  const lock = await st.s.mysql.main.getConnection();
  await lock.query(`LOCK TABLES ${db}.coupon_grant_user WRITE`);
  // 2,000,000 ids of ~9 bytes: ~18 MB, several times the 4 MB buffer.
  const count = 2_000_000;
  const chunks = [...idLines('m', count, 20_000)];
  const length = chunks.reduce((n, b) => n + b.length, 0);
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, gatewayRss()); }, 20);
  const upload = streamUpload(t.id, length, chunks);
  await new Promise((r) => setTimeout(r, 3000));
  const stuckPeak = peak;
  await lock.query('UNLOCK TABLES');
  lock.release();
  const r = await upload;
  clearInterval(sampler);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  assert.equal(r.json.total, count);
  assert.ok(stuckPeak - before < 16 << 20, `the gateway grew ${((stuckPeak - before) / 1e6).toFixed(1)} MB while MySQL was stuck`);
});

test('a client that keeps sending after a bad line gets the 400, then the connection is closed', { timeout: 30_000 }, async () => {
  const t = await createTemplate(url, { name: 'linger', type: 'direct', value: 1, totalStock: 1 });
  const sock = connect(Number(new URL(url).port), '127.0.0.1');
  sock.on('error', () => {});
  let answer = '';
  sock.on('data', (b: Buffer) => { answer += b.toString('latin1'); });
  const closed = new Promise((r) => sock.once('close', r));
  // Chunked: a body with no end, sent for as long as the connection is open.
  sock.write(`POST /v1/admin/templates/${t.id}/grants HTTP/1.1\r\nHost: x\r\nauthorization: ${ADMIN.authorization}\r\n`
    + 'content-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\na\nb c\n\r\n');
  const chunk = 'x1\n'.repeat(1000);
  const feed = setInterval(() => { if (!sock.destroyed) sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`); }, 20);
  await closed;
  clearInterval(feed);
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /line 2/);
  assert.equal((await postGrant(url, t.id, 'ok\n', TEXT)).status, 202, 'the gateway is fine');
});
