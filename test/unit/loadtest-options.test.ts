/** The load test's command line: bounded runs only, clear errors, exit code 2 (no services needed). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { OptionError, parseOptions } from '../../loadtest/options.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

const rejects = (argv: string[], message: RegExp) =>
  assert.throws(() => parseOptions(argv), (err: unknown) => err instanceof OptionError && message.test(err.message), argv.join(' '));

test('defaults per scenario, flags parsed', () => {
  const o = parseOptions(['hot', '--duration', '5'])!;
  assert.equal(o.scenario, 'hot');
  assert.equal(o.url, 'http://127.0.0.1:8080');
  assert.equal(o.durationS, 5);
  assert.equal(o.requests, undefined);
  assert.equal(o.rate, undefined);
  assert.equal(o.connections, 100);
  assert.equal(o.format, 'json');
  assert.equal(o.stock, 10_000);
  assert.equal(o.charts, true);
  const s = parseOptions(['spread', '--requests', '1000', '--rate', '500', '--templates', '50', '--format', 'msgpack',
    '--users', '10_000', '--no-charts', '--url', 'http://localhost:9000', '--out', '/tmp/x'])!;
  assert.deepEqual([s.requests, s.rate, s.templates, s.format, s.users, s.charts, s.url, s.outDir],
    [1000, 500, 50, 'msgpack', 10_000, false, 'http://localhost:9000', '/tmp/x']);
  assert.equal(parseOptions(['mixed', '--duration', '1'])!.templates, 10);
  assert.equal(s.adminUrl, 'http://localhost:9000', '--admin-url defaults to --url');
  assert.equal(parseOptions(['hot', '--duration', '1', '--admin-url', 'http://127.0.0.1:8081'])!.adminUrl, 'http://127.0.0.1:8081');
  assert.equal(parseOptions(['--help']), null);
});

test('every run is bounded: exactly one of --duration and --requests, within limits', () => {
  rejects(['hot'], /exactly one of --duration/);
  rejects(['hot', '--duration', '5', '--requests', '100'], /exactly one of --duration/);
  rejects(['hot', '--duration', '0'], /--duration must be an integer from 1 to 600/);
  rejects(['hot', '--duration', '601'], /--duration/);
  rejects(['hot', '--requests', '20000000'], /--requests must be an integer/);
  rejects(['hot', '--duration', '600', '--rate', '100000'], /--rate x --duration/);
  rejects(['hot', '--requests', '10', '--connections', '50'], /at least --connections/);
});

test('bad values and unknown input are named', () => {
  rejects([], /expected one scenario/);
  rejects(['rain', '--duration', '1'], /unknown scenario "rain"/);
  rejects(['hot', 'spread', '--duration', '1'], /expected one scenario/);
  rejects(['hot', '--duration', '1', '--connections', 'many'], /--connections must be an integer/);
  rejects(['hot', '--duration', '1', '--connections', '1.5'], /--connections/);
  rejects(['hot', '--duration', '1', '--rate', '-5'], /--rate/);
  rejects(['hot', '--duration', '1', '--format', 'xml'], /--format must be json or msgpack/);
  rejects(['hot', '--duration', '1', '--templates', '5'], /--templates applies to spread, mixed, batch and checkout only/);
  rejects(['batch', '--duration', '1', '--templates', '21'], /batch asks for every template in one request: --templates at most 20/);
  rejects(['codes', '--duration', '1', '--users', '1'], /--users must be an integer from 2/);
  rejects(['codes', '--duration', '1', '--stock', '1000001'], /--stock must be an integer from 1 to 1,000,000/);
  rejects(['grant', '--duration', '1', '--templates', '2'], /--templates applies to spread, mixed, batch and checkout only/);
  rejects(['checkout', '--duration', '1', '--rate', '100'], /checkout runs its orders closed loop: --rate does not apply/);
  rejects(['hot', '--duration', '1', '--url', 'ftp://x'], /--url must be an http/);
  rejects(['hot', '--duration', '1', '--url', 'http://x:1/v1/claim'], /--url must be an http:\/\/ origin/);
  rejects(['hot', '--duration', '1', '--url', 'not a url'], /is not a URL/);
  rejects(['hot', '--duration', '1', '--admin-url', 'https://x'], /--admin-url must be an http/);
  rejects(['hot', '--duration', '1', '--bogus'], /unknown option '--bogus'/);
  rejects(['soldout', '--requests', '5000'], /soldout needs --duration of at least 3/);
  rejects(['soldout', '--duration', '2'], /soldout needs --duration/);
  rejects(['soldout', '--duration', '3', '--stock', '200000'], /--stock must be an integer from 1 to 100,000/);
});

test('the CLI prints the error without a stack trace and exits 2', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'loadtest/main.ts', 'hot', '--connections', '0', '--duration', '1'],
    { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^loadtest: --connections must be an integer from 1 to 1,000/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'loadtest/main.ts', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run loadtest/);
});
