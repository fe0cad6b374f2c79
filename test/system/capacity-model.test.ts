// make test: may run beside another test file (it asserts no timing, CPU or memory figure).
/** The capacity planner's arithmetic, its flags and its calibration file (no services needed). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CalibrationError, readCalibration } from '../../capacity/calibration-file.ts';
import { claimsAtGroupSize, type Figures, figuresAt, type FigureSet, planColumn, REFERENCE_FIGURES, SOURCE_FIGURES,
  type Traffic } from '../../capacity/model.ts';
import { parseCommand, UsageError } from '../../capacity/options.ts';
import { renderPlan } from '../../capacity/render.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const traffic = (over: Partial<Traffic> = {}): Traffic => ({
  qps: 120_000, hotTemplates: 1, headroom: 1.5, overflowShare: 0.1, overflowTakes: 2, ...over,
});

test('the source designs reproduce their table: 30 MySQL masters and 6 Redis shards for 120,000 claims/s', () => {
  const p = planColumn('source', traffic(), SOURCE_FIGURES);
  assert.equal(p.rows.mysqlMasters!.need, 30);
  assert.equal(p.rows.redisShards!.need, 6);
  assert.equal(p.rows.subStocks!.need, 6, 'one hot template: its stock split over the 6 shards');
  // the sources provision 1.5x what they tested.
  assert.equal(p.rows.mysqlMasters!.provisioned, 45);
  assert.equal(p.rows.redisShards!.provisioned, 9);
  assert.equal(p.redisOpsPerClaim, 1);
  // the source designs give no figure for these.
  assert.equal(p.rows.gateway, null);
  assert.equal(p.rows.partitions, null);
  assert.equal(p.rows.sinks, null);
  assert.match(p.rows.mysqlMasters!.formula, /120,000 rows\/s ÷ 4,000 rows\/s per master .* = 30 → 30; ⌈30 × 1\.5⌉ = 45/);
  assert.match(p.rows.redisShards!.formula, /120,000 claims\/s × 1 write\/claim ÷ 20,000 writes\/s per shard = 6 → 6/);
});

test('headroom: provisioned is the exact need times the headroom, rounded up once', () => {
  const one = planColumn('source', traffic({ headroom: 1 }), SOURCE_FIGURES);
  assert.equal(one.rows.mysqlMasters!.provisioned, 30);
  assert.equal(one.rows.redisShards!.provisioned, 6);
  // 121,000 / 20,000 = 6.05: need 7, and 6.05 x 1.5 = 9.075 -> 10 (not 7 x 1.5 = 10.5 -> 11).
  const odd = planColumn('source', traffic({ qps: 121_000 }), SOURCE_FIGURES);
  assert.equal(odd.rows.redisShards!.need, 7);
  assert.equal(odd.rows.redisShards!.provisioned, 10);
  const two = planColumn('source', traffic({ headroom: 2 }), SOURCE_FIGURES);
  assert.equal(two.rows.mysqlMasters!.provisioned, 60);
});

test('hot templates split the demand: sub-stocks per template shrink, shards do not', () => {
  const three = planColumn('source', traffic({ hotTemplates: 3 }), SOURCE_FIGURES);
  assert.equal(three.rows.subStocks!.need, 2);
  assert.equal(three.rows.subStocks!.provisioned, 3);
  assert.equal(three.rows.redisShards!.need, 6);
  const many = planColumn('source', traffic({ hotTemplates: 1000 }), SOURCE_FIGURES);
  assert.equal(many.rows.subStocks!.need, 1, 'a template with 120 claims/s needs no split');
});

const GIVEN: Figures = {
  short: 'given', label: 'given figures', redisOpsPerShard: 50_000, groupSize: 1, homeClaimsPerShard: 50_000, homeFrom: 'given',
  mysqlRowsPerMaster: 100_000, batchSize: 500, mysqlMeasuredAt: 500, gatewayClaimsPerCpuS: 25_000, sinkRowsPerCpuS: 50_000,
  streamOverhead: 0.2,
};

test('our design with given figures: scripts per claim, overflow, gateway, sink, masters and partitions', () => {
  const p = planColumn('ours', traffic({ qps: 100_000 }), GIVEN);
  // 1 claim-home + 0.1 x (2 takes + 1 settle) + 0.2 stream = 1.5 scripts per claim.
  assert.equal(p.redisOpsPerClaim, 1.5);
  assert.equal(p.gatewayCallsPerClaim, 1.3);
  const r = p.rows;
  assert.deepEqual([r.redisShards!.need, r.redisShards!.provisioned], [3, 5]); // 3; 4.5 -> 5
  assert.deepEqual([r.subStocks!.need, r.subStocks!.provisioned], [3, 5]);
  assert.deepEqual([r.gateway!.need, r.gateway!.provisioned], [6, 8]); // 5.2 -> 6; 7.8 -> 8
  assert.deepEqual([r.mysqlMasters!.need, r.mysqlMasters!.provisioned], [1, 2]); // 1; 1.5 -> 2
  assert.deepEqual([r.sinks!.need, r.sinks!.provisioned], [2, 3]);
  // each sub-stock its own partition, four partitions per provisioned shard.
  assert.deepEqual([r.partitions!.need, r.partitions!.provisioned], [3, 20]);
  assert.match(r.gateway!.formula, /100,000 claims\/s × 1\.3 \(1 \+ overflow round trips.*\) ÷ 25,000 claims per CPU-second = 5\.2 → 6/);
  assert.match(p.redisOpsFormula, /0\.1 overflow × \(2 claim-take \+ 1 claim-settle\) \+ 0\.2 stream/);
});

test('our model on the source figures, without overflow or stream reads, gives the source table', () => {
  const f = figuresAt(REFERENCE_FIGURES, { redisOpsPerShard: 20_000, mysqlRowsPerMaster: 4_000, batchSize: 1, streamOverhead: 0 });
  const p = planColumn('ours', traffic({ overflowShare: 0 }), f);
  assert.equal(p.rows.redisShards!.need, 6);
  assert.equal(p.rows.mysqlMasters!.need, 30);
});

// A call costs 40 µs of Redis plus 5 µs per claim, a stream entry 4 µs plus 0.5 µs per record.
const perCore = (g: number, fixed: number, perClaim: number) => 1e6 / (fixed / g + perClaim);
const GROUPED: FigureSet = {
  ...REFERENCE_FIGURES,
  redisClaims: [1, 4, 16, 64].map((g) => ({ groupSize: g, claimsPerS: perCore(g, 40, 5), readClaimsPerS: perCore(g, 4, 0.5) })),
  groupSize: 4,
};
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6 * b, `${what}: ${a} vs ${b}`);

test('the Redis figure at a group size: measured, interpolated on 1/g (exact for a cost per call + per claim), never extrapolated', () => {
  close(claimsAtGroupSize(GROUPED.redisClaims, 4).claimsPerS, perCore(4, 40, 5), 'measured');
  assert.equal(claimsAtGroupSize(GROUPED.redisClaims, 4).from, 'measured at 4');
  for (const g of [2, 2.5, 8, 40]) close(claimsAtGroupSize(GROUPED.redisClaims, g).claimsPerS, perCore(g, 40, 5), `g = ${g}`);
  assert.equal(claimsAtGroupSize(GROUPED.redisClaims, 8).from, 'interpolated between 4 and 16');
  const beyond = claimsAtGroupSize(GROUPED.redisClaims.slice(0, 2), 16);
  close(beyond.claimsPerS, perCore(4, 40, 5), 'above the largest size: its figure');
  assert.match(beyond.from, /measured at 4, the largest/);
  close(claimsAtGroupSize(GROUPED.redisClaims, 8, (p) => p.readClaimsPerS).claimsPerS, perCore(8, 4, 0.5), 'the reads');
  assert.throws(() => claimsAtGroupSize(GROUPED.redisClaims.slice(1), 2), /no Redis figure at or below 2/);
});

test('group commit: claim-home costs 1/g of a call per claim, the stream reads shrink too, overflow scripts do not', () => {
  const f = figuresAt(GROUPED);
  assert.equal(f.groupSize, 4, 'default: the set\'s (what calibrate saw)');
  close(f.redisOpsPerShard, perCore(1, 40, 5), 'single-claim scripts per core');
  close(f.homeClaimsPerShard, perCore(4, 40, 5), 'claims per core at 4 per call');
  // stream reads/acks per claim, in single-claim scripts: (4/4 + 0.5) µs ÷ 45 µs.
  close(f.streamOverhead, 1.5 / 45, 'stream');
  const p = planColumn('ours', traffic({ overflowShare: 0 }), f);
  // claim-home: (40/4 + 5) = 15 µs of a 45 µs single-claim script per claim.
  close(p.redisOpsPerClaim, 15 / 45 + 1.5 / 45, 'scripts per claim');
  assert.match(p.redisOpsFormula, /^1\/4 claim-home call = 0\.33 scripts \(66,666\.67 claims\/s per core at 4 per call, measured at 4; 22,222\.22 at 1\)/);
  assert.match(p.redisOpsFormula, /\+ 0\.03 stream reads\/acks \(entries of 4 records\)/);
  // 120,000 × 16.5/45 ÷ 22,222 = 1.98 cores: 2 shards, 3 provisioned.
  assert.deepEqual([p.rows.redisShards!.need, p.rows.redisShards!.provisioned], [2, 3]);
  const one = planColumn('ours', traffic({ overflowShare: 0 }), figuresAt(GROUPED, { groupSize: 1 }));
  close(one.redisOpsPerClaim, 1 + 4.5 / 45, 'one claim per call');
  // the overflow scripts are single-claim scripts at any group size: 0.1 × 3 on top.
  close(planColumn('ours', traffic(), f).redisOpsPerClaim, 16.5 / 45 + 0.3, 'with overflow');
  // gateway work per claim does not depend on the group size (its figure was measured at one).
  assert.equal(planColumn('ours', traffic(), f).gatewayCallsPerClaim, 1.3);
});

test('Redis overrides: a given single-claim figure scales every group size; a given group figure wins', () => {
  const f = figuresAt(GROUPED, { redisOpsPerShard: 2 * perCore(1, 40, 5) });
  close(f.homeClaimsPerShard, 2 * perCore(4, 40, 5), 'scaled');
  close(f.streamOverhead, 1.5 / 45, 'the stream share does not change with the core\'s speed');
  const g = figuresAt(GROUPED, { groupSize: 16, redisClaimsPerShard: 123_456, streamOverhead: 0.5 });
  assert.deepEqual([g.groupSize, g.homeClaimsPerShard, g.homeFrom, g.streamOverhead], [16, 123_456, 'given', 0.5]);
  assert.throws(() => planColumn('ours', traffic(), { ...GIVEN, groupSize: 0.5 }), /group size must be ≥ 1/);
});

test('a calibrated group window: the plan says what group size its own traffic per gateway and sub-stock gathers', () => {
  const p = planColumn('ours', traffic(), figuresAt({ ...GROUPED, groupWindowMs: 2 }));
  const { gateway, subStocks } = p.rows;
  const perGateway = 120_000 / subStocks!.provisioned / gateway!.provisioned;
  assert.ok(p.groupCheck!.includes(`up to ≈ ${(perGateway * 2 / 1000).toLocaleString('en-US', { maximumFractionDigits: 2 })} claims per call`),
    p.groupCheck);
  assert.match(p.groupCheck!, /\(planned with 4\)/);
  assert.equal(planColumn('ours', traffic(), figuresAt(GROUPED)).groupCheck, undefined, 'no window: no check');
});

test('the MySQL figure is the one measured at the largest batch size not above the plan\'s', () => {
  const set: FigureSet = { ...REFERENCE_FIGURES, mysqlRows: [{ batchSize: 50, rowsPerS: 40_000 }, { batchSize: 500, rowsPerS: 90_000 }] };
  assert.equal(figuresAt(set, { batchSize: 500 }).mysqlRowsPerMaster, 90_000);
  const between = figuresAt(set, { batchSize: 200 });
  assert.deepEqual([between.mysqlRowsPerMaster, between.mysqlMeasuredAt, between.batchSize], [40_000, 50, 200]);
  assert.equal(figuresAt(set, { batchSize: 5000 }).mysqlRowsPerMaster, 90_000);
  assert.throws(() => figuresAt(set, { batchSize: 10 }), /no MySQL figure at or below 10 rows.*--mysql-rows-per-master/);
  assert.equal(figuresAt(set, { batchSize: 10, mysqlRowsPerMaster: 7 }).mysqlRowsPerMaster, 7, 'a flag wins');
  assert.equal(figuresAt(REFERENCE_FIGURES).batchSize, 500, 'default: the sink\'s 500 rows per INSERT');
});

test('a hot template needing more sub-stocks than the product allows is flagged', () => {
  const p = planColumn('ours', traffic({ qps: 10_000_000 }), GIVEN);
  assert.ok(p.warnings.some((w) => /sub-stocks per hot template exceed the product's 64/.test(w)), p.warnings.join('\n'));
  assert.deepEqual(planColumn('ours', traffic(), GIVEN).warnings, []);
});

test('inputs that make no sense are refused', () => {
  for (const bad of [{ qps: 0 }, { qps: Number.NaN }, { qps: -5 }, { hotTemplates: 0 }, { hotTemplates: 1.5 },
    { headroom: 0.5 }, { overflowShare: 1.5 }, { overflowTakes: -1 }] as Partial<Traffic>[]) {
    assert.throws(() => planColumn('source', traffic(bad), SOURCE_FIGURES), RangeError, JSON.stringify(bad));
  }
  assert.throws(() => planColumn('ours', traffic(), { ...GIVEN, redisOpsPerShard: 0 }), /Redis operations per shard/);
  assert.throws(() => planColumn('ours', traffic(), { ...GIVEN, gatewayClaimsPerCpuS: undefined }), /gateway claims/);
});

test('flags: defaults, validation with the flag\'s name, unknown flags and commands', () => {
  const c = parseCommand(['plan', '--qps', '120000']);
  assert.equal(c.cmd, 'plan');
  if (c.cmd !== 'plan') return;
  assert.deepEqual(c.o.traffic, traffic());
  assert.equal(c.o.calibration, undefined);
  const cal = parseCommand(['plan', '--qps', '1e5', '--calibrated', '--batch-size', '2000']);
  assert.ok(cal.cmd === 'plan' && cal.o.calibration!.endsWith('.data/capacity-calibration.json') && cal.o.overrides.batchSize === 2000);
  const bad: [string[], RegExp][] = [
    [['plan'], /--qps is required/], [['plan', '--qps', 'abc'], /--qps must be/], [['plan', '--qps', '-5'], /--qps/],
    [['plan', '--qps', '1', '--hot-templates', '0'], /--hot-templates/], [['plan', '--qps', '1', '--batch-size', '1.5'], /--batch-size/],
    [['plan', '--qps', '1', '--headroom', '0.9'], /--headroom/], [['plan', '--qps', '1', '--nope'], /nope/],
    [['calibrate', '--seconds', '0'], /--seconds/], [['calibrate', '--seconds', '999'], /--seconds/],
    [['calibrate', '--batch-sizes', '1,x'], /--batch-sizes/], [['frobnicate'], /unknown command/], [[], /command is required/],
    [['calibrate', '--group-sizes', '4,16'], /must include 1/], [['calibrate', '--group-sizes', '1,128'], /--group-sizes/],
    [['calibrate', '--group-sizes', '1,1'], /twice/], [['plan', '--qps', '1', '--group-size', '0.5'], /--group-size/],
    [['plan', '--qps', '1', '--group-size', '65'], /--group-size/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parseCommand(argv), (e: unknown) => e instanceof UsageError && re.test(e.message), argv.join(' '));
  const k = parseCommand(['calibrate']);
  assert.ok(k.cmd === 'calibrate' && k.o.seconds === 3 && k.o.batchSizes.join() === '1,50,500,2000' && k.o.groupSizes.join() === '1,4,16,64');
  const g = parseCommand(['plan', '--qps', '1', '--group-size', '2.5', '--redis-claims-per-shard', '90000']);
  assert.ok(g.cmd === 'plan' && g.o.overrides.groupSize === 2.5 && g.o.overrides.redisClaimsPerShard === 90_000);
});

test('a calibration file that is missing, not JSON or holds a non-positive figure is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cap-'));
  assert.throws(() => readCalibration(join(dir, 'none.json')), (e: unknown) => e instanceof CalibrationError && /calibrate` first/.test(e.message));
  writeFileSync(join(dir, 'junk.json'), 'not json');
  assert.throws(() => readCalibration(join(dir, 'junk.json')), /not JSON/);
  writeFileSync(join(dir, 'old.json'), JSON.stringify({ version: 1 }));
  assert.throws(() => readCalibration(join(dir, 'old.json')), /not a version 2 calibration/);
  const run = (over: object) => ({ mode: 'not pipelined', groupSize: 1, claimsPerS: 1000, claimsPerRedisCpuS: null,
    read: { claimsPerS: 5000, claimsPerRedisCpuS: null }, ...over });
  const file = (redis: object[]) => JSON.stringify({ version: 2, date: new Date().toISOString(), redis });
  writeFileSync(join(dir, 'zero.json'), file([run({ claimsPerS: 0 })]));
  assert.throws(() => readCalibration(join(dir, 'zero.json')), /redis not pipelined \[0\]\.claimsPerS is 0/);
  writeFileSync(join(dir, 'nosingle.json'), file([run({ groupSize: 4 })]));
  assert.throws(() => readCalibration(join(dir, 'nosingle.json')), /no run of one claim per call/);
});

test('the rendered table shows need → provisioned and the formulas', () => {
  const t = traffic();
  const text = renderPlan(t, [planColumn('source', t, SOURCE_FIGURES), planColumn('ours', t, figuresAt(REFERENCE_FIGURES))]);
  assert.match(text, /MySQL masters\s+30 → 45\s+1 → 1/);
  assert.match(text, /Redis shards\s+6 → 9\s+3 → 4/);
  assert.match(text, /gateway processes\s+—\s+6 → 8/);
  assert.match(text, /claims per claim-home call\s+—\s+1\n/);
  assert.match(text, /120,000 rows\/s ÷ 4,000 rows\/s per master/);
});

const run = promisify(execFile);
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'capacity/main.ts', ...args], { cwd: ROOT });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the command line: JSON plan, and bad input exits 2 with a message, not a stack trace', async () => {
  const ok = await cli('plan', '--qps', '120000', '--json');
  assert.equal(ok.code, 0, ok.stderr);
  const plan = JSON.parse(ok.stdout) as { columns: { design: string; rows: Record<string, { need: number } | null> }[] };
  assert.deepEqual(plan.columns.map((c) => c.design), ['source', 'ours']);
  assert.equal(plan.columns[0]!.rows.mysqlMasters!.need, 30);
  for (const args of [['plan', '--qps', 'lots'], ['plan', '--qps', '1', '--batch-size', '10', '--calibration', '/nonexistent.json'],
    ['plan', '--qps', '1', '--batch-size', '0']]) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^capacity: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
