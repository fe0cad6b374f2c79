/**
 * `capacity calibrate --topology cluster`, bounded (one round of one second, clusters of 1 and 2
 * masters, then 2 masters with a replica each, on the tool's default ports 7601-7604): the file
 * holds every shape with each master's claims and CPU, plan reads it into its scale-out section,
 * and every node it started is stopped and its data gone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readCalibration } from '../../capacity/calibration-file.ts';
import { spread, summarize } from '../../capacity/cluster-file.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const PORTS = [7601, 7602, 7603, 7604];
const capacity = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'capacity/main.ts', ...args], { cwd: ROOT, timeout: 240_000 });

test('calibrate --topology cluster measures each cluster shape, plan scales out from it, and every node is stopped', { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cap-cluster-')), 'calibration.json');
  await capacity('calibrate', '--topology', 'cluster', '--masters', '1,2', '--rounds', '1', '--seconds', '1',
    '--group-sizes', '1', '--batch-sizes', '500', '--connections', '20', '--cluster-ports', PORTS.join(','), '--out', out);

  const c = readCalibration(out);
  const shapes = summarize(c.cluster!.runs);
  assert.deepEqual(shapes.map((s) => `${s.masters}/${s.replicas}`), ['1/0', '2/0', '2/1']);
  for (const r of c.cluster!.runs) {
    assert.equal(r.perMaster.reduce((n, m) => n + m.claims, 0), r.claims, 'every claim counted on its master');
    assert.ok(r.perMaster.every((m) => m.cpuS !== null && m.cpuS > 0), 'every master metered');
    assert.equal(r.replicaUsPerClaim !== null, r.replicas > 0);
  }
  // the 16 partitions' hash tags fall 8/8 over two masters.
  const two = c.cluster!.runs.find((r) => r.masters === 2 && r.replicas === 0)!;
  assert.ok(spread(two).imbalance < 1.1, `2 masters took ${spread(two).shares.join(', ')}`);
  assert.deepEqual(c.cluster!.gateway.map((g) => [g.masters, g.run.masters?.length]), [[1, 1], [2, 2]]);

  const plan = await capacity('plan', '--qps', '120000', '--calibration', out);
  assert.match(plan.stdout, /Scaled out, from the Redis Cluster runs/);
  assert.match(plan.stdout, /Redis masters .* on 2 masters with 1 replica each/s);
  assert.match(plan.stdout, /Redis replicas\s+\d+ → \d+/);

  // stopped by pid, data deleted: no pid file, no data directory, no node answering.
  assert.deepEqual(readdirSync(join(ROOT, '.data', 'run')).filter((f) => f.startsWith('capacity-')), []);
  assert.deepEqual(readdirSync(join(ROOT, '.data')).filter((f) => f.startsWith('capacity-')), []);
  assert.equal(existsSync(join(ROOT, '.data', 'run', 'topologies', 'capacity-replicas')), false);
  for (const p of PORTS) {
    await assert.rejects(run('redis-cli', ['-h', '127.0.0.1', '-p', String(p), 'ping'], { timeout: 5_000 })
      .then(({ stdout }) => { if (!/PONG/.test(stdout)) throw new Error(stdout); }), `port ${p} still answers`);
  }
});
