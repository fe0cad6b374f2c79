/**
 * A bounded calibration on the real Redis and MariaDB (one second per measurement, two group
 * sizes): it writes a file that `plan` reads as a third column, and leaves none of its keys or
 * databases behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { measuredSet, readCalibration } from '../../capacity/calibration-file.ts';
import { claimsAtGroupSize } from '../../capacity/model.ts';
import { openStorage, testConfig } from '../../tools/harness/storage.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const capacity = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'capacity/main.ts', ...args], { cwd: ROOT, timeout: 90_000 });

test('calibrate --seconds 1 measures every ceiling, saves a file plan uses, and cleans up', { timeout: 120_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cap-cal-')), 'calibration.json');
  const cal = await capacity('calibrate', '--seconds', '1', '--group-sizes', '1,4', '--batch-sizes', '1,500', '--connections', '20',
    '--out', out);
  assert.match(cal.stdout, /saved to/);

  const c = readCalibration(out);
  assert.equal(c.secondsPerRun, 1);
  assert.deepEqual(c.redis.map((r) => `${r.groupSize} ${r.mode}`), ['1 not pipelined', '1 pipelined', '4 not pipelined', '4 pipelined']);
  for (const r of c.redis) {
    assert.ok(r.execs > 0 && r.claims === r.execs * r.groupSize, JSON.stringify(r));
    assert.ok(r.claimsPerRedisCpuS! > 0, 'the local Redis is metered from /proc');
    // the sink's reads and acks of what the run appended: at least one pass over its entries.
    if (r.mode === 'not pipelined') assert.ok(r.read!.entries >= r.execs && r.read!.claimsPerRedisCpuS! > 0, JSON.stringify(r.read));
    else assert.equal(r.read, null);
  }
  assert.deepEqual(c.mysql.map((m) => m.batchSize), [1, 500]);
  for (const m of c.mysql) assert.ok(m.rows >= m.batchSize && m.rowsPerS > 0, JSON.stringify(m));
  assert.ok(c.gateway.ok2xx > 0 && c.gateway.claimsPerGatewayCpuS > 0 && c.gateway.rowsPerSinkCpuS > 0);
  assert.ok(c.gateway.issued > 0 && c.gateway.rowsVerified >= c.gateway.issued, 'MySQL holds the coupons the run issued');
  // every claim-home call issued all its claims in one stream entry.
  assert.ok(c.gateway.streamEntries > 0 && c.gateway.streamEntries <= c.gateway.issued, JSON.stringify(c.gateway));
  assert.equal(c.gateway.groupSize, c.gateway.issued / c.gateway.streamEntries);
  assert.ok(c.machine.nproc.length > 0 && c.machine.redisVersion !== '?' && Date.parse(c.date) > 0);

  const plan = await capacity('plan', '--qps', '120000', '--calibration', out, '--json');
  const p = JSON.parse(plan.stdout) as { columns: { design: string; figures: { short: string; redisOpsPerShard: number;
    groupSize: number; homeClaimsPerShard: number; mysqlRowsPerMaster: number }; groupCheck?: string;
    rows: Record<string, { need: number; provisioned: number } | null> }[] };
  assert.deepEqual(p.columns.map((x) => x.figures.short), ['source designs', 'ours, reference', 'ours, measured']);
  const measured = p.columns[2]!;
  assert.equal(measured.figures.redisOpsPerShard, c.redis[0]!.claimsPerRedisCpuS, 'single-claim scripts: the run of one per call');
  assert.equal(measured.figures.groupSize, c.gateway.groupSize, 'default group size: what the gateway reached');
  assert.equal(measured.figures.homeClaimsPerShard, claimsAtGroupSize(measuredSet(c).redisClaims, c.gateway.groupSize).claimsPerS);
  assert.match(measured.groupCheck!, /claims per call/);
  assert.equal(measured.figures.mysqlRowsPerMaster, c.mysql[1]!.rowsPerS, 'the 500-row figure at the default batch size');
  assert.ok(measured.rows.gateway!.provisioned >= 1 && measured.rows.mysqlMasters!.need >= 1);

  // nothing of the run is left: keys and databases carry its prefix.
  const st = await openStorage(testConfig());
  try {
    const left: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await st.redis.scan(cursor, 'MATCH', `${c.prefix}_*`, 'COUNT', 10_000);
      left.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    assert.deepEqual(left, []);
    const [dbs] = await st.mysql.main.query('SHOW DATABASES LIKE ?', [`${c.prefix}\\_%`]);
    assert.deepEqual(dbs, []);
  } finally {
    await st.close();
  }
});
