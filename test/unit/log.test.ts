/**
 * The one log (core/log.ts) and the gateway's request ids (gateway/http/request-log.ts): the
 * fields of every line, level filtering, rate limits with their skipped count, short errors for
 * repeated failures and whole ones (with the stack) otherwise, and which client ids are kept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, RateLimit, rateLimitedLog, shortErr } from '../../core/log.ts';
import { requestId, RequestLog } from '../../gateway/http/request-log.ts';

/** A logger whose lines land parsed in `lines`. */
function capture(role = 'test', level: Parameters<typeof createLogger>[1] = 'info') {
  const lines: Record<string, any>[] = [];
  const logger = createLogger(role, level, (l) => lines.push(JSON.parse(l)));
  return { logger, lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

test('every line has level, time, role and pid, then its fields and message', () => {
  const { logger, lines } = capture('sink');
  logger.info({ written: 3 }, 'progress');
  assert.equal(lines.length, 1);
  const [l] = lines;
  assert.deepEqual([l!.level, l!.role, l!.pid, l!.written, l!.msg], ['info', 'sink', process.pid, 3, 'progress']);
  assert.ok(!Number.isNaN(Date.parse(l!.time)), l!.time);
});

test('lines below the level are dropped; silent drops all', () => {
  const { logger, lines } = capture('gateway', 'warn');
  logger.debug('no');
  logger.info('no');
  logger.warn('yes');
  logger.error('yes too');
  assert.deepEqual(lines.map((l) => l.msg), ['yes', 'yes too']);
  const quiet = capture('gateway', 'silent');
  quiet.logger.fatal('nothing');
  assert.deepEqual(quiet.lines, []);
});

test('an err field is logged whole: type, message, stack and code', () => {
  const { logger, lines } = capture();
  logger.error({ err: refused() }, 'start-up failed');
  const err = lines[0]!.err;
  assert.deepEqual([err.type, err.message, err.code], ['Error', 'connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED']);
  assert.match(err.stack, /^Error: connect ECONNREFUSED[^\n]*\n\s+at /);
});

test('shortErr keeps type, message and code, without the stack', () => {
  assert.deepEqual(shortErr(refused()), { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6379', code: 'ECONNREFUSED' });
  assert.deepEqual(shortErr(new RangeError('bad')), { type: 'RangeError', message: 'bad' });
  assert.equal(shortErr('just text'), 'just text');
});

test('a rate limit passes a key once per gap and counts what it held back', () => {
  const r = new RateLimit(1000);
  assert.equal(r.pass('a', 0), 0);
  assert.equal(r.pass('a', 10), undefined);
  assert.equal(r.pass('a', 999), undefined);
  assert.equal(r.pass('b', 999), 0, 'keys are apart');
  assert.equal(r.pass('a', 1000), 2, 'the two held back');
  assert.equal(r.pass('a', 2000), 0);
});

test("the sink's log: errors per key once per gap, the next with a skipped count and the error short; alerts and info never held", () => {
  const { logger, lines } = capture('sink');
  const log = rateLimitedLog(logger, 60_000);
  for (let i = 0; i < 3; i++) log.error('redis', 'redis connection error', refused());
  log.error('mysql', 'insert failed', new Error('timeout'), { table: 't_0' });
  for (let i = 0; i < 2; i++) log.alert('needs attention: template a');
  log.info('progress', { written: 1 });
  assert.deepEqual(lines.map((l) => `${l.level} ${l.msg}`), ['error redis connection error', 'error insert failed',
    'error needs attention: template a', 'error needs attention: template a', 'info progress']);
  assert.deepEqual(lines[0]!.err, { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6379', code: 'ECONNREFUSED' });
  assert.equal(lines[0]!.key, 'redis');
  assert.equal(lines[1]!.table, 't_0');
  const burst = rateLimitedLog(logger, 0);
  burst.error('k', 'x');
  assert.equal(lines.at(-1)!.skipped, undefined, 'no count when nothing was held back');
});

test('a line after held-back ones carries their count', async () => {
  const { logger, lines } = capture('sink');
  const log = rateLimitedLog(logger, 30);
  for (let i = 0; i < 4; i++) log.error('flush', 'batch failed');
  await new Promise((r) => setTimeout(r, 40));
  log.error('flush', 'batch failed');
  assert.deepEqual(lines.map((l) => l.skipped), [undefined, 3]);
});

test('a client request id is kept when it is 1-128 visible ASCII characters, else one is made', () => {
  for (const id of ['a', 'trace-Abc.123:x', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '~'.repeat(128)]) {
    assert.equal(requestId(id), id);
  }
  const made = ['', 'has space', 'tab\there', 'x'.repeat(129), 'é', 'new\nline'].map(requestId);
  for (const id of made) assert.match(id, /^[\w-]{8}-[0-9a-z]+$/);
  assert.equal(new Set(made).size, made.length, 'each made id is new');
});

test('unexpected errors of untraced requests (claims) are sampled, with the count skipped', () => {
  const { logger, lines } = capture('gateway');
  const rl = new RequestLog(logger);
  for (let i = 0; i < 100; i++) rl.unexpected(undefined, 'post', '/v1/claim', new Error('bug'));
  assert.equal(lines.length, 1, 'a burst logs once');
  assert.deepEqual([lines[0]!.method, lines[0]!.path, lines[0]!.err.type], ['POST', '/v1/claim', 'Error']);
  assert.match(lines[0]!.err.stack, /Error: bug/);
  const t = rl.begin('get', '/v1/admin/templates', 'r-1', 'info');
  for (let i = 0; i < 3; i++) rl.unexpected(t, 'get', '/v1/admin/templates', new Error('bug'));
  assert.equal(lines.filter((l) => l.reqId === 'r-1').length, 3, 'traced requests are each logged');
});
