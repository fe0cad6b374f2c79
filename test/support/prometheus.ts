/** Reads Prometheus text for tests: samples by name and labels; starts a sink whose metrics a test scrapes. */
import { type Proc, spawnEntry } from './processes.ts';
import { waitFor } from './sink-fixtures.ts';
import { findLog } from '../../tools/harness/log-lines.ts';

/** A sink process with `env`, and the base URL of its metrics listener (it logs the address it bound). */
export async function spawnMetricsSink(env: Record<string, string>): Promise<{ sink: Proc; url: string }> {
  const sink = spawnEntry('sink/main.ts', env);
  const listening = () => findLog(sink.log(), 'metrics listening');
  await waitFor(async () => listening() !== undefined, 10_000, 'the sink logs its metrics address');
  return { sink, url: String(listening()!.url) };
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of a scrape. */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples of `name` whose labels include `labels` (0 when none). */
export function sum(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
