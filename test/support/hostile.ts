/**
 * Hostile clients for the fuzz test (not a test file itself): generators of malformed bodies
 * (JSON and msgpack) and malformed HTTP framing, from a seeded PRNG so a failure can be replayed;
 * a raw TCP client that records what the server answered; and slow clients (dribbling headers or
 * bodies, idle connections, clients that never read).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { pack } from 'msgpackr';

/** mulberry32: a small deterministic PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const bytes = (...xs: number[]) => Buffer.from(xs);

/** Flips a few random bytes, or cuts the buffer short, or both. */
export function mutate(r: Rand, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const flips = int(r, 4);
  for (let i = 0; i < flips && out.length > 0; i++) out[int(r, out.length)] = int(r, 256);
  return r() < 0.4 ? out.subarray(0, int(r, out.length + 1)) : out;
}

const INVALID_UTF8 = [bytes(0xff), bytes(0xc0, 0xaf), bytes(0xed, 0xa0, 0x80), bytes(0xf8, 0x88, 0x80, 0x80, 0x80), bytes(0xc3, 0x28)];

/** A JSON-ish claim body: valid, broken, odd or hostile. */
export function jsonBody(r: Rand, templateId: string, n: number): Buffer {
  const base = `{"userId":"fz-${n}","templateId":"${templateId}","requestId":"q${n}"}`;
  const deep = 1 + int(r, 2000);
  const cases: (() => string | Buffer)[] = [
    () => base,
    () => mutate(r, Buffer.from(base)),
    () => Buffer.concat([Buffer.from(`{"userId":"fz-`), pick(r, INVALID_UTF8), Buffer.from(`","templateId":"${templateId}"}`)]),
    () => `{"userId":"\\ud800${n}","templateId":"${templateId}"}`,
    () => `{"userId":"a\\u0000b","templateId":"${templateId}"}`,
    () => `{"userId":"${'u'.repeat(int(r, 6000))}","templateId":"${templateId}"}`,
    () => '['.repeat(deep) + ']'.repeat(deep),
    () => '{"a":'.repeat(deep >> 2) + '1' + '}'.repeat(deep >> 2),
    () => '['.repeat(deep),
    () => `{"userId":"a","userId":"b${n}","templateId":"${templateId}"}`,
    () => `{"userId":"fz-${n}","templateId":"nope","templateId":"${templateId}"}`,
    () => `{"userId":${pick(r, ['NaN', 'Infinity', '-Infinity', '1e999', '-0', '123456789012345678901234567890', 'null', 'true', '[]', '{}'])},"templateId":"${templateId}"}`,
    () => `{"userId":"fz-${n}","templateId":${pick(r, ['NaN', '1e999', '[1,2]', '{"$gt":""}', 'false'])}}`,
    () => `{"__proto__":{"userId":"p${n}","templateId":"${templateId}"}}`,
    () => `{"constructor":{"prototype":{"userId":"x"}},"userId":"c${n}","templateId":"${templateId}"}`,
    () => `\ufeff${base}`,
    () => pick(r, ['', ' ', 'null', '[]', '""', '0', '{}', '{"":""}', '\n\n', 'undefined', "{'userId':'a'}"]),
    () => `{${Array.from({ length: 300 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
    () => `[${'0,'.repeat(int(r, 2000))}0]`,
    () => `${base}${base}`,
    () => `${base}\u0000garbage`,
  ];
  const v = pick(r, cases)();
  return typeof v === 'string' ? Buffer.from(v) : v;
}

/** A map of n string keys to values, encoded by hand (msgpackr would not write duplicates). */
function mpMap(pairs: [Buffer, Buffer][]): Buffer {
  return Buffer.concat([bytes(0x80 | pairs.length), ...pairs.flat()]);
}
const mpStr = (s: string) => pack(s);

/** A msgpack-ish claim body: valid, broken, odd or hostile. */
export function msgpackBody(r: Rand, templateId: string, n: number): Buffer {
  const valid = pack({ userId: `mp-${n}`, templateId, requestId: `m${n}` });
  // Up to the 4 KB claim cap: msgpackr recurses per level and overflows the stack past ~4,000.
  const deep = 1 + int(r, 4090);
  const cases: (() => Buffer)[] = [
    () => valid,
    () => mutate(r, valid),
    () => bytes(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0),
    () => bytes(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61),
    () => bytes(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
    () => bytes(0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00),
    () => bytes(0xc9, 0xff, 0xff, 0xff, 0xff, int(r, 256), 0x00),
    () => Buffer.concat([Buffer.alloc(deep, 0x91), bytes(0xc0)]),
    () => Buffer.concat(Array.from({ length: deep >> 2 }, () => bytes(0x81, 0xa1, 0x61)).concat([bytes(0xc0)])),
    () => Buffer.alloc(deep, 0x91),
    () => bytes(pick(r, [0xd4, 0xd5, 0xd6, 0xd7, 0xd8]), int(r, 256), ...Array.from({ length: 16 }, () => int(r, 256))),
    () => bytes(0xc7, int(r, 40), int(r, 256), ...Array.from({ length: int(r, 40) }, () => int(r, 256))),
    () => mpMap([[mpStr('userId'), bytes(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0)], [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[mpStr('userId'), bytes(0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0)], [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[mpStr('userId'), bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)], [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[mpStr('userId'), Buffer.concat([bytes(0xa3), pick(r, INVALID_UTF8).subarray(0, 3), Buffer.alloc(3, 0x61)]).subarray(0, 4)],
      [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[mpStr('userId'), mpStr('a')], [mpStr('userId'), mpStr(`dup-${n}`)], [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[bytes(0x01), mpStr('x')], [bytes(0xc0), mpStr('y')], [bytes(0x80), mpStr('z')]]),
    () => mpMap([[mpStr('__proto__'), pack({ userId: `pp-${n}`, templateId })], [mpStr('templateId'), mpStr(templateId)]]),
    () => mpMap([[mpStr('userId'), pack(new Date(8.64e15))], [mpStr('templateId'), mpStr(templateId)]]),
    () => bytes(0xc1),
    () => Buffer.from(Array.from({ length: 1 + int(r, 300) }, () => int(r, 256))),
    () => Buffer.concat([valid, valid]),
    () => pack([`mp-${n}`, templateId]),
    () => pack({ userId: `mp-${n}`, templateId, extra: Buffer.alloc(int(r, 5000)) }),
  ];
  return pick(r, cases)();
}

/** A Content-Type header value, often not the body's format. */
export function contentType(r: Rand, right: string): string | undefined {
  if (r() < 0.6) return right;
  return pick(r, [undefined, 'application/json', 'application/msgpack', 'application/x-msgpack', 'APPLICATION/JSON',
    'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/xml',
    'multipart/form-data; boundary=x', 'application/json, application/msgpack', ';;;', 'application/', '*/*']);
}

/** Malformed or unusual HTTP framing, as raw bytes for one connection. */
export function rawRequest(r: Rand, templateId: string, n: number): Buffer {
  const body = `{"userId":"raw-${n}","templateId":"${templateId}"}`;
  const head = (extra: string, path = '/v1/claim', method = 'POST', version = 'HTTP/1.1') =>
    `${method} ${path} ${version}\r\nHost: x\r\nContent-Type: application/json\r\n${extra}\r\n`;
  const cases: (() => string | Buffer)[] = [
    () => head(`Content-Length: ${pick(r, ['-1', 'abc', '1e3', '99999999999999999999', ' 10', '0x10', '', '10, 10', '+5'])}\r\n`) + body,
    () => head(`Content-Length: ${body.length + 1 + int(r, 40)}\r\n`) + body,
    () => head(`Content-Length: ${int(r, body.length)}\r\n`) + body,
    () => head(`Content-Length: ${body.length}\r\nContent-Length: ${body.length + 3}\r\n`) + body,
    () => head(`Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`) + body,
    () => head('Transfer-Encoding: chunked\r\n') + `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    () => head('Transfer-Encoding: chunked\r\n') + `${pick(r, ['zz', 'ffffffff', '-1', '1;a=b', '', '7fffffffffffffff'])}\r\n${body}\r\n0\r\n\r\n`,
    () => head('Transfer-Encoding: chunked\r\n') + `${body.length.toString(16)}\r\n${body}\r\n0\r\nX-Trailer: 1\r\n\r\n`,
    () => head(`Transfer-Encoding: ${pick(r, ['gzip', 'chunked, chunked', 'identity', 'xchunked'])}\r\n`) + body,
    () => head(Array.from({ length: pick(r, [49, 60, 200, 1000]) }, (_, i) => `X-H${i}: v\r\n`).join('') + `Content-Length: ${body.length}\r\n`) + body,
    () => head(`X-Big: ${'a'.repeat(pick(r, [3000, 20_000, 70_000, 300_000]))}\r\nContent-Length: ${body.length}\r\n`) + body,
    () => head(`${pick(r, ['Bad Header', 'X-Nul: a\u0000b', ': empty-name', 'X-Fold: a\r\n  folded', 'X-Ctl: \u0001\u007f'])}\r\nContent-Length: ${body.length}\r\n`) + body,
    () => head(`Content-Length: ${body.length}\r\n`, '/v1/claim', pick(r, ['FOO', 'post', 'P OST', 'GET', 'PUT', 'DELETE', 'CONNECT', 'TRACE', 'PRI'])) + body,
    () => head(`Content-Length: ${body.length}\r\n`, '/v1/claim', 'POST', pick(r, ['HTTP/2.0', 'HTTP/1.0', 'HTTP/9.9', 'HTTX/1.1', ''])) + body,
    () => head('', pick(r, [`/${'a'.repeat(10_000)}`, `/v1/users/${'x'.repeat(100_000)}/coupons`, '/v1/users/%ff%fe/coupons',
      '/v1/users/a%00b/coupons', '/v1/users/../../etc/passwd/coupons', '/v1/users/a/coupons?limit=1e3&limit=2',
      '/v1/users/a/coupons?%zz=1', 'http://x/v1/claim', '*', '/v1/claim#frag', '//v1//claim', '/v1/users//coupons']), 'GET'),
    () => `POST /v1/claim HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: ${body.length}\n\n${body}`,
    () => `POST /v1/claim HTTP/1.1\rHost: x\rContent-Length: ${body.length}\r\r${body}`,
    () => head(`Content-Length: ${body.length}\r\n`).slice(0, int(r, 60)),
    () => Buffer.from(Array.from({ length: 1 + int(r, 500) }, () => int(r, 256))),
    () => bytes(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03),
    () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    () => head(`Expect: 100-continue\r\nContent-Length: ${body.length}\r\n`) + body,
    () => head('Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n', '/v1/claim', 'GET'),
    () => head(`Content-Length: ${body.length}\r\n`).repeat(3) + body,
    () => (head(`Content-Length: ${body.length}\r\n`) + body).repeat(1 + int(r, 5)),
    () => head(`Content-Length: 1048577\r\n`, '/v1/admin/templates'),
    () => head(`Authorization: Bearer ${'t'.repeat(int(r, 5000))}\r\nContent-Length: 2\r\n`, '/v1/admin/templates') + '{}',
  ];
  const v = pick(r, cases)();
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

export interface RawResult {
  /** The first status code the server sent, or null if none came. */
  readonly status: number | null;
  /** Every status line seen (several for pipelined requests). */
  readonly statuses: number[];
  /** The server closed (or reset) the connection before `waitMs`. */
  readonly closedByServer: boolean;
  readonly ms: number;
}

/** Sends raw bytes on a new connection and collects answers until the server closes or `waitMs` passes. */
export function sendRaw(port: number, data: Buffer, waitMs: number): Promise<RawResult> {
  return new Promise((resolve) => {
    const t = performance.now();
    const s = connect(port, '127.0.0.1');
    let got = '';
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      const statuses = [...got.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ status: statuses[0] ?? null, statuses, closedByServer, ms: performance.now() - t });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('connect', () => s.write(data));
    s.on('data', (b) => { got += b.toString('latin1'); });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
  });
}

export interface SlowResult {
  readonly statuses: number[];
  /** Milliseconds from connect until the server closed the connection (null: still open at the end). */
  readonly closedAfterMs: number | null;
  /** Bytes the client managed to write before the close. */
  readonly sent: number;
}

/**
 * Opens a connection, writes `first`, then the next piece of `drip` every `everyMs` (cycling)
 * until the server closes it or `maxMs` passes. With `read` false the client never reads a byte
 * while it runs: a close then shows as a failed write, or, for a client that writes no more, at
 * `maxMs`, when it finally reads to see whether the server had hung up.
 */
export function slowClient(port: number,
  o: { first: string; drip: readonly string[]; everyMs: number; maxMs: number; read?: boolean }): Promise<SlowResult> {
  return new Promise((resolve) => {
    const t = performance.now();
    const s: Socket = connect(port, '127.0.0.1');
    let got = '';
    let sent = 0;
    let i = 0;
    let settled = false;
    let ticker: NodeJS.Timeout | undefined;
    const write = (x: string) => {
      if (x.length === 0 || s.destroyed) return;
      s.write(x);
      sent += x.length;
    };
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      clearTimeout(limit);
      s.destroy();
      const statuses = [...got.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ statuses, closedAfterMs: closed ? performance.now() - t : null, sent });
    };
    const limit = setTimeout(() => {
      if (o.read !== false) return finish(false);
      clearInterval(ticker);
      s.resume();
      setTimeout(() => finish(false), 2000).unref();
    }, o.maxMs);
    if (o.read === false) s.pause();
    s.on('connect', () => {
      write(o.first);
      if (o.drip.length > 0) ticker = setInterval(() => write(o.drip[i++ % o.drip.length]!), o.everyMs);
    });
    s.on('data', (b) => { got += b.toString('latin1'); });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('end', () => finish(true));
  });
}

/** Resident memory of a process in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** An admin body (template create, patch or stock change): valid, broken, odd or hostile. */
export function adminBody(r: Rand, base: string): Buffer {
  const cases: (() => string | Buffer)[] = [
    () => base,
    () => mutate(r, Buffer.from(base)),
    () => base.replace(/\d+/, pick(r, ['1e999', 'NaN', '-1', '1.5', '"10"', 'null', '9007199254740993', '-0'])),
    () => base.replace(/}$/, `,"audience":[${Array.from({ length: int(r, 30_000) }, (_, i) => `"a${i}"`).join(',')}]}`),
    () => base.replace(/}$/, `,"audience":${'['.repeat(int(r, 500_000))}${']'.repeat(int(r, 500_000))}}`),
    () => base.replace(/}$/, `,"scope":{"categories":[${'"c",'.repeat(int(r, 5000))}"c"],"products":{}}}`),
    () => base.replace(/}$/, `,"claimStart":"${pick(r, ['9999-99-99', '2024-02-30T00:00:00Z', '', 'T', '+275760-09-13T00:00:00.001Z'])}"}`),
    () => base.replace(/}$/, ',"name":"dup","name":"\\ud800"}'),
    () => base.replace(/^{/, '{"__proto__":{"totalStock":1},'),
    () => jsonBody(r, 'x', 0),
  ];
  const v = pick(r, cases)();
  return typeof v === 'string' ? Buffer.from(v) : v;
}
