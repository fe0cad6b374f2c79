/** Text layout of a capacity plan: figures, resource table, then the formula behind each count; the scale-out section. */
import { type ColumnPlan, type Count, type Figures, num, RESOURCES, type Traffic } from './model.ts';
import type { ScaleOutPlan } from './scale-out.ts';

const FIRST = 40;
const COLUMN = 24;

function line(first: string, cells: readonly string[]): string {
  return `  ${first.padEnd(FIRST)}${cells.map((c) => c.padEnd(COLUMN)).join('')}`.trimEnd();
}

const cell = (c: Count | null) => (c ? `${num(c.need)} → ${num(c.provisioned)}` : '—');
const opt = (v: number | undefined) => (v === undefined ? '—' : num(v));

function mysqlFigure(f: Figures): string {
  const at = f.mysqlMeasuredAt === f.batchSize ? `@${num(f.batchSize)}` : `@${num(f.mysqlMeasuredAt)} for ${num(f.batchSize)}`;
  return `${num(f.mysqlRowsPerMaster)} ${at}`;
}

/** The plan as a person reads it. */
export function renderPlan(t: Traffic, columns: readonly ColumnPlan[]): string {
  const heads = columns.map((c) => c.figures.short);
  const out: string[] = [];
  out.push(`Capacity plan: ${num(t.qps)} claims/s over ${num(t.hotTemplates)} hot template${t.hotTemplates === 1 ? '' : 's'} ` +
    `(${num(t.qps / t.hotTemplates)} claims/s each), headroom ${num(t.headroom)}×`);
  out.push(`Near sell-out: ${num(t.overflowShare * 100)} % of claims find their home sub-stock empty ` +
    `(${num(t.overflowTakes)} claim-take + 1 claim-settle each)`);
  out.push('');
  columns.forEach((c) => out.push(`  ${c.figures.short}: ${c.figures.label}`));
  out.push('');
  out.push(line('Figures', heads));
  out.push(line('Redis ops/s per shard (one core)', columns.map((c) =>
    `${num(c.figures.redisOpsPerShard)} ${c.design === 'source' ? 'writes' : 'scripts'}`)));
  out.push(line('claims per claim-home call', columns.map((c) => (c.design === 'source' ? '—' : num(c.figures.groupSize)))));
  out.push(line('Redis claims/s per core at that size', columns.map((c) =>
    (c.design === 'source' ? '—' : num(Math.round(c.figures.homeClaimsPerShard))))));
  out.push(line('Redis ops per claim', columns.map((c) => `${num(c.redisOpsPerClaim)} ${c.design === 'source' ? 'write' : 'scripts'}`)));
  out.push(line('MySQL rows/s per master @rows/INSERT', columns.map((c) => mysqlFigure(c.figures))));
  out.push(line('gateway claims per CPU-second', columns.map((c) => opt(c.figures.gatewayClaimsPerCpuS))));
  out.push(line('sink rows per CPU-second', columns.map((c) => opt(c.figures.sinkRowsPerCpuS))));
  out.push('');
  out.push(line(`Resources (need → ×${num(t.headroom)} provisioned)`, heads));
  for (const r of RESOURCES) out.push(line(r.name, columns.map((c) => cell(c.rows[r.id]))));
  out.push('');
  out.push('How each count is computed');
  columns.forEach((c, i) => {
    if (c.design === 'ours') out.push(`  ${heads[i]}, Redis per claim: ${c.redisOpsFormula}`);
    if (c.groupCheck) out.push(`  ${heads[i]}, group size: ${c.groupCheck}`);
  });
  for (const r of RESOURCES) {
    const rows = columns.map((c, i) => [heads[i], c.rows[r.id]] as const).filter(([, n]) => n !== null);
    if (rows.length === 0) continue;
    out.push(`  ${r.name}`);
    for (const [head, n] of rows) out.push(`    ${head}: ${n!.formula}`);
  }
  const warnings = columns.flatMap((c, i) => c.warnings.map((w) => `  ${heads[i]}: ${w}`));
  if (warnings.length > 0) out.push('', 'Warnings', ...warnings);
  out.push('', 'Gateway, sink and partition rows are ours only: the source designs give no figure for them.');
  return out.join('\n');
}

/** The scale-out section: one line per resource, the formula behind each, then the notes. */
export function renderScaleOut(p: ScaleOutPlan, headroom: number): string {
  const rows: [string, Count][] = [['gateway processes', p.gateways], ['Redis masters', p.masters], ['Redis replicas', p.replicas],
    ['MariaDB servers', p.mariadbServers], ['sink processes', p.sinks]];
  return [
    `Scaled out, from the Redis Cluster runs (need → ×${num(headroom)} provisioned; a master's CPU per claim ${num(p.masterUsPerClaim)} µs)`,
    ...rows.map(([name, c]) => line(name, [cell(c)])),
    '',
    ...rows.flatMap(([name, c]) => [`  ${name}`, `    ${c.formula}`]),
    ...p.notes.map((n) => `  note: ${n}`),
  ].join('\n');
}
