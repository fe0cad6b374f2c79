/**
 * Every setting as a row (variable, effective value, source, default, description) for
 * `npm run config`, and the README's configuration table generated from the declarations.
 */
import { parseSettings, SETTINGS, type SettingName, shownValue, type Source } from './parse.ts';
import { defaultText, type Env, type Setting } from './schema.ts';

/** One setting as the tables show it; `value` is null when unset, secrets are "<hidden>". */
export interface SettingRow {
  readonly name: SettingName;
  readonly value: string | number | boolean | readonly string[] | null;
  readonly source: Source;
  readonly default: string;
  readonly accepts: string;
  readonly description: string;
}

const ALL: Readonly<Record<string, Setting<unknown>>> = SETTINGS;

/** Every setting of `env`, in declaration order; throws ConfigError when `env` is bad. */
export function settingRows(env: Env): SettingRow[] {
  const { values, sources } = parseSettings(env);
  return (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = ALL[name]!;
    return { name, value: masked(s, values[name]), source: sources[name], default: defaultText(s), accepts: s.accepts, description: s.description };
  });
}

function masked(s: Setting<unknown>, v: unknown): SettingRow['value'] {
  if (v === undefined) return null;
  if (typeof v === 'string') return shownValue(s.mask, v);
  if (Array.isArray(v)) return v.map((x: string) => shownValue(s.mask, x));
  return v as number | boolean;
}

/** The rows as an aligned text table for a terminal. */
export function textTable(rows: readonly SettingRow[]): string {
  const cells = rows.map((r) => [r.name, r.value === null || (Array.isArray(r.value) && r.value.length === 0) ? '-' : Array.isArray(r.value) ? r.value.join(',') : String(r.value), r.source, r.description]);
  const head = ['variable', 'value', 'source', 'description'];
  const width = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((x, i) => (i < 3 ? x.padEnd(width[i]!) : x)).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

/** The README's table: every declared variable, its default, what it accepts and why (no environment read). */
export function markdownTable(): string {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = ALL[name]!;
    const d = defaultText(s);
    return `| \`${name}\` | ${d === '' ? '—' : `\`${cell(d)}\``} | ${cell(s.accepts)} | ${cell(s.description)} |`;
  });
  return ['| variable | default | accepts | why |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

const README_BEGIN = '<!-- config:begin -->';
const README_END = '<!-- config:end -->';

/** The README text between the markers (trimmed), or undefined when a marker is missing. */
export function readmeTable(readme: string): string | undefined {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) return undefined;
  return readme.slice(begin + README_BEGIN.length, end).trim();
}

/** `readme` with the generated table between the markers. */
export function withReadmeTable(readme: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${README_BEGIN} ... ${README_END} markers`);
  return `${readme.slice(0, begin + README_BEGIN.length)}\n${markdownTable()}\n${readme.slice(end)}`;
}
