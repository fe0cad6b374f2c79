/** The scale-out plan's arithmetic and the cluster section's medians (capacity/scale-out*.ts, cluster-file.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Calibration, type ClusterCalibration, previousWait } from '../../capacity/calibration-file.ts';
import { clusterProblem, type ClusterRedisRun, masterFigure, median, spread, summarize,
  waitProblem } from '../../capacity/cluster-file.ts';
import { figuresAt, planColumn, REFERENCE_FIGURES } from '../../capacity/model.ts';
import { parseCommand, UsageError } from '../../capacity/options.ts';
import { planScaleOut, type ScaleOutInput } from '../../capacity/scale-out.ts';
import { scaleOutInput } from '../../capacity/scale-out-input.ts';

const input = (over: Partial<ScaleOutInput> = {}): ScaleOutInput => ({
  qps: 120_000, headroom: 1.5, scriptsPerClaim: 1, masterScriptsPerCpuS: 40_000, masterFrom: 'test', replicasPerMaster: 1,
  replicaUsPerClaim: null, mysqlRowsPerServer: 100_000, batchNote: '500 rows per INSERT', sinkRowsPerCpuS: 40_000,
  gatewayClaimsPerCpuS: 20_000, gatewayFrom: 'test', gatewayCallsPerClaim: 1, ...over,
});

test('masters, replicas, MariaDB servers, sinks and gateways from the measured figures, with headroom', () => {
  const p = planScaleOut(input());
  // 1 script × 25 µs per script = 25 µs per claim; 120,000 × 25 µs = 3 master cores.
  assert.equal(p.masterUsPerClaim, 25);
  assert.deepEqual([p.masters.need, p.masters.provisioned], [3, 5]);
  assert.deepEqual([p.replicas.need, p.replicas.provisioned], [3, 5], 'one replica per master');
  assert.deepEqual([p.mariadbServers.need, p.mariadbServers.provisioned], [2, 2], '1.2 servers → 2; 1.8 → 2');
  assert.deepEqual([p.sinks.need, p.sinks.provisioned], [3, 5]);
  assert.deepEqual([p.gateways.need, p.gateways.provisioned], [6, 9]);
  assert.match(p.masters.formula, /120,000 claims\/s × \(1 scripts × 25 µs per script\) = 120,000 × 25 µs ÷ 1,000,000 .* = 3 → 3; ⌈3 × 1\.5⌉ = 5/);
  assert.match(p.mariadbServers.formula, /120,000 rows\/s ÷ 100,000 rows\/s per MariaDB server \(500 rows per INSERT\) = 1\.2 → 2/);
  assert.match(p.notes.join('\n'), /REDIS_WAIT_REPLICAS=1 not counted/);
});

test('the Redis work per claim scales the masters; overflow round trips scale the gateways', () => {
  const p = planScaleOut(input({ scriptsPerClaim: 0.5, masterScriptsPerCpuS: 30_000, gatewayCallsPerClaim: 1.3 }));
  // 0.5 × 33.33 µs = 16.67 µs; × 120,000 = 2 cores.
  assert.ok(Math.abs(p.masterUsPerClaim - 50 / 3) < 1e-9);
  assert.deepEqual([p.masters.need, p.masters.provisioned], [2, 3]);
  // 120,000 × 1.3 × 50 µs = 7.8 cores.
  assert.deepEqual([p.gateways.need, p.gateways.provisioned], [8, 12]);
});

test('REDIS_WAIT_REPLICAS=1 adds its measured CPU per claim to every master and gateway', () => {
  const p = planScaleOut(input({ wait: { masterUsPerClaim: 5, gatewayUsPerClaim: 10, measured: 'test' } }));
  // (25 + 5) µs × 120,000 = 3.6 cores; (50 + 10) µs × 120,000 = 7.2 cores.
  assert.equal(p.masterUsPerClaim, 30);
  assert.deepEqual([p.masters.need, p.masters.provisioned], [4, 6]);
  assert.deepEqual([p.replicas.need, p.replicas.provisioned], [4, 6]);
  assert.deepEqual([p.gateways.need, p.gateways.provisioned], [8, 11]);
  assert.match(p.masters.formula, /\+ 5 µs of WAIT/);
  // per claim, not per overflow round trip: 120,000 × (1.5 × 50 + 10) µs = 10.2 cores.
  const o = planScaleOut(input({ gatewayCallsPerClaim: 1.5, wait: { masterUsPerClaim: 5, gatewayUsPerClaim: 10, measured: 'test' } }));
  assert.deepEqual([o.gateways.need, o.gateways.provisioned], [11, 16]);
  assert.match(o.gateways.formula, /120,000 claims\/s × \(1\.5 calls × 50 µs \+ 10 µs of WAIT\)/);
  assert.match(p.notes.join('\n'), /REDIS_WAIT_REPLICAS=1 counted \(test\)/);
});

test('replicas follow the masters; a replica\'s load is stated; nonsense is refused', () => {
  assert.deepEqual([planScaleOut(input({ replicasPerMaster: 2 })).replicas.provisioned], [10]);
  assert.equal(planScaleOut(input({ replicasPerMaster: 0 })).replicas.provisioned, 0);
  const p = planScaleOut(input({ replicaUsPerClaim: 10 }));
  // 120,000 claims/s over 5 masters = 24,000 each, × 10 µs = 0.24 of a core.
  assert.match(p.notes.join('\n'), /10 µs per claim: 0\.24 of a core at 24,000 claims\/s per master/);
  assert.match(planScaleOut(input({ imbalance: { factor: 1.125, masters: 3 } })).notes.join('\n'),
    /on 3 masters the busiest took 1\.13× an even share/);
  assert.doesNotMatch(planScaleOut(input({ imbalance: { factor: 1, masters: 2 } })).notes.join('\n'), /busiest/);
  assert.throws(() => planScaleOut(input({ masterScriptsPerCpuS: 0 })), /masterScriptsPerCpuS must be a positive number/);
  assert.throws(() => planScaleOut(input({ headroom: 0.5 })), /headroom/);
});

const run = (masters: number, replicas: number, claims: number[], cpuS: number[], round = 1): ClusterRedisRun => {
  const total = claims.reduce((a, b) => a + b, 0);
  const cpu = cpuS.reduce((a, b) => a + b, 0);
  return {
    masters, replicas, round, groupSize: 1, calls: total, claims: total, seconds: 2, claimsPerS: total / 2,
    perMaster: claims.map((c, i) => ({ port: 7600 + i, claims: c, cpuS: cpuS[i]!, usPerClaim: cpuS[i]! * 1e6 / c })),
    mastersCpuS: cpu, usPerClaim: cpu * 1e6 / total, claimsPerMasterCpuS: total / cpu,
    replicasCpuS: replicas ? 0.1 : null, replicaUsPerClaim: replicas ? 0.1 * 1e6 / total : null, clientCores: 0.3,
  };
};

test('the spread over masters: the busiest master\'s share against an even one', () => {
  assert.deepEqual(spread(run(2, 0, [500, 500], [0.1, 0.1])), { shares: [0.5, 0.5], imbalance: 1 });
  const s = spread(run(3, 0, [400, 400, 200], [0.1, 0.1, 0.1]));
  assert.deepEqual(s.shares, [0.4, 0.4, 0.2]);
  assert.ok(Math.abs(s.imbalance - 1.2) < 1e-9);
  assert.equal(median([3, null, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([null]), null);
});

test('medians per cluster shape; the plan\'s master figure is the most masters, with replicas when measured', () => {
  const runs = [
    run(1, 0, [20_000], [0.5], 1), run(1, 0, [30_000], [0.5], 2), run(1, 0, [10_000], [0.5], 3),
    run(3, 0, [10_000, 10_000, 10_000], [0.2, 0.2, 0.2]),
    run(3, 1, [9_000, 9_000, 9_000], [0.2, 0.2, 0.2]),
  ];
  const s = summarize(runs);
  assert.deepEqual(s.map((x) => `${x.masters}/${x.replicas}`), ['1/0', '3/0', '3/1']);
  assert.equal(s[0]!.runs, 3);
  assert.equal(s[0]!.claimsPerMasterCpuS, 40_000, 'median of 40,000, 60,000 and 20,000');
  assert.equal(s[0]!.busiestClaimsPerS, 10_000);
  assert.equal(s[0]!.busiestCores, 0.25);
  const m = masterFigure(s)!;
  assert.deepEqual([m.masters, m.replicas, Math.round(m.claimsPerMasterCpuS!)], [3, 1, 45_000]);
  assert.equal(Math.round(masterFigure(s.filter((x) => x.replicas === 0))!.claimsPerMasterCpuS!), 50_000);
});

test('a cluster section or a WAIT cost that plan cannot use is refused', () => {
  const ok = run(1, 0, [1000], [0.1]);
  const section = (runs: unknown[]) => ({ runs }) as unknown as ClusterCalibration;
  assert.equal(clusterProblem(section([ok])), undefined);
  assert.match(String(clusterProblem(section([]))), /no runs/);
  assert.match(String(clusterProblem(section([ok, { ...ok, claims: 0 }]))), /cluster\.runs\[1\] is not a measured run/);
  assert.match(String(clusterProblem(section([{ ...ok, claimsPerMasterCpuS: -1 }]))), /not a measured run/);
  assert.equal(waitProblem({ masterUsPerClaim: 0, gatewayUsPerClaim: 2, measured: 'x' }), undefined);
  assert.match(String(waitProblem({ masterUsPerClaim: -1, gatewayUsPerClaim: 2, measured: 'x' })), /wait needs/);
  assert.match(String(waitProblem({ masterUsPerClaim: 1 } as never)), /wait needs/);
});

test('a recalibration keeps the WAIT cost the file held, and only a usable one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cap-wait-'));
  const file = (name: string, body: string) => {
    writeFileSync(join(dir, name), body);
    return join(dir, name);
  };
  const wait = { masterUsPerClaim: 4, gatewayUsPerClaim: 6, measured: 'make drill, 2026-12-05' };
  assert.deepEqual(previousWait(file('ok.json', JSON.stringify({ version: 2, wait }))), wait);
  assert.equal(previousWait(file('none.json', JSON.stringify({ version: 2 }))), undefined);
  assert.equal(previousWait(file('bad.json', JSON.stringify({ wait: { masterUsPerClaim: 'x' } }))), undefined);
  assert.equal(previousWait(file('junk.json', '{')), undefined);
  assert.equal(previousWait(join(dir, 'missing.json')), undefined);
});

test('the scale-out inputs come from the cluster section; flags replace the file\'s WAIT cost', () => {
  const measured = planColumn('ours', { qps: 120_000, hotTemplates: 1, headroom: 1.5, overflowShare: 0.1, overflowTakes: 2 },
    figuresAt(REFERENCE_FIGURES));
  const flags = { replicasPerMaster: 1 };
  assert.match(String(scaleOutInput({} as Calibration, measured, 120_000, 1.5, flags)), /no cluster section/);
  const cluster = { runs: [run(2, 0, [10_000, 10_000], [0.25, 0.25]), run(2, 1, [8_000, 8_000], [0.25, 0.25])],
    gateway: [] } as unknown as ClusterCalibration;
  const c = { cluster, wait: { masterUsPerClaim: 3, gatewayUsPerClaim: 4, measured: 'file' } } as unknown as Calibration;
  const i = scaleOutInput(c, measured, 120_000, 1.5, flags);
  assert.ok(typeof i !== 'string');
  assert.equal(i.masterScriptsPerCpuS, 32_000, 'the run with replicas: 16,000 claims on 0.5 CPU-seconds');
  assert.equal(i.replicaUsPerClaim, 6.25);
  assert.deepEqual(i.imbalance, { factor: 1, masters: 2 });
  assert.equal(i.sweep, '2 → 10,000 claims/s, 25 µs of master CPU per claim; 2+2 → 8,000 claims/s, 31.3 µs of master CPU per claim');
  assert.equal(i.scriptsPerClaim, measured.redisOpsPerClaim);
  assert.equal(i.wait?.measured, 'file');
  assert.equal(i.gatewayClaimsPerCpuS, measured.figures.gatewayClaimsPerCpuS, 'no gateway run on a cluster: the single Redis\'s');
  const given = scaleOutInput(c, measured, 120_000, 1.5, { ...flags, waitMasterUsPerClaim: 1, waitGatewayUsPerClaim: 2 });
  assert.ok(typeof given !== 'string');
  assert.deepEqual([given.wait?.masterUsPerClaim, given.wait?.gatewayUsPerClaim], [1, 2]);
});

test('calibrate --topology cluster: the flags, and enough ports for the clusters side by side', () => {
  const c = parseCommand(['calibrate', '--topology', 'cluster']);
  assert.ok(c.cmd === 'calibrate');
  assert.deepEqual([c.o.topology, c.o.masters, c.o.clusterPorts.length, c.o.rounds], ['cluster', [1, 2, 3], 6, 2]);
  assert.throws(() => parseCommand(['calibrate', '--topology', 'cluster', '--cluster-ports', '7601,7602']),
    (e: unknown) => e instanceof UsageError && /clusters of 1, 2, 3 masters need 6/.test(e.message));
  assert.throws(() => parseCommand(['calibrate', '--topology', 'ring']), UsageError);
  assert.throws(() => parseCommand(['plan', '--qps', '1', '--wait-master-us-per-claim', '3']), /go together/);
});
