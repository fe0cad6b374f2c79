/**
 * Parses every declared setting (each with its zod schema) and gathers every problem before
 * failing: bad values, broken cross-field rules and unknown variables of the project's own
 * names, each with its (masked) value and why.
 */
import { type AppEnv, defaultOf, type Env, isUnset, type Setting, type ValueOf } from './schema.ts';
import { JOBS } from './settings-jobs.ts';
import { SERVING } from './settings.ts';
import { projectPrefixes, unknownVariables } from './unknown.ts';

/** Every declared setting, in the order the tables list them. */
export const SETTINGS = { ...SERVING, ...JOBS } as const;

export type SettingName = keyof typeof SETTINGS;

/** The parsed value of every setting. */
export type Values = { readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };

/** Where a setting's value came from. */
export type Source = 'env' | 'default';

/** One bad variable: its name, its value as it may be shown, and why it is refused. */
export interface ConfigIssue {
  readonly name: string;
  readonly shown: string;
  readonly why: string;
}

/** Every bad variable of one environment, one per line. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    const lines = issues.map((i) => `  ${i.name}=${JSON.stringify(i.shown)}: ${i.why}`);
    super(`config: ${issues.length} bad variable${issues.length === 1 ? '' : 's'}:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
  }
}

const NAMES = Object.keys(SETTINGS) as SettingName[];
const DECLARED: ReadonlySet<string> = new Set(NAMES);
const PREFIXES = projectPrefixes(NAMES);
const ALL: Readonly<Record<string, Setting<unknown>>> = SETTINGS;

/** `raw` as it may be shown under `mask`: secrets hidden, passwords inside URLs hidden. */
export function shownValue(mask: Setting<unknown>['mask'], raw: string): string {
  if (mask === 'all') return raw === '' ? '' : '<hidden>';
  if (mask === 'url') return raw.replace(/(\/\/[^:@/]*:)[^@/]*@/g, '$1***@');
  return raw;
}

/** Parses `env`: every setting's value and source; throws ConfigError listing every problem. */
export function parseSettings(env: Env): { values: Values; sources: Readonly<Record<SettingName, Source>> } {
  const input: Record<string, string> = {};
  for (const n of NAMES) {
    const raw = env[n];
    if (!isUnset(ALL[n]!, raw)) input[n] = raw;
  }
  const issues: ConfigIssue[] = [];
  const bad = new Set<string>();
  const got: Record<string, unknown> = {};
  for (const [n, raw] of Object.entries(input)) {
    const r = ALL[n]!.schema().safeParse(raw);
    if (r.success) got[n] = r.data;
    else {
      bad.add(n);
      issues.push({ name: n, shown: shownValue(ALL[n]!.mask, raw), why: [...new Set(r.error.issues.map((i) => i.message))].join('; ') });
    }
  }
  const appEnv = (bad.has('APP_ENV') ? 'production' : got.APP_ENV ?? defaultOf(SETTINGS.APP_ENV, 'production')) as AppEnv;
  const values: Record<string, unknown> = {};
  const sources: Record<string, Source> = {};
  for (const n of NAMES) {
    const fromEnv = n in input;
    values[n] = fromEnv ? got[n] : defaultOf(ALL[n]!, appEnv);
    sources[n] = fromEnv ? 'env' : 'default';
  }
  issues.push(...crossChecks(values as Values, bad));
  for (const u of unknownVariables(env, DECLARED, PREFIXES)) {
    const hint = u.suggestion === undefined ? 'not a setting (npm run config lists them)' : `not a setting: did you mean ${u.suggestion}?`;
    // never its value: an unknown variable may be anyone's secret (MYSQL_PWD, a typo of a token).
    issues.push({ name: u.name, shown: '<hidden>', why: hint });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { values: values as Values, sources: sources as Record<SettingName, Source> };
}

/** The rules between settings, each checked only when the settings it reads parsed. */
function crossChecks(v: Values, bad: ReadonlySet<string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const index = v.GATEWAY_WORKER_INDEX;
  if (!bad.has('GATEWAY_WORKERS') && !bad.has('GATEWAY_WORKER_INDEX') && index !== undefined && index >= v.GATEWAY_WORKERS) {
    issues.push({ name: 'GATEWAY_WORKER_INDEX', shown: String(index), why: `is not below GATEWAY_WORKERS=${v.GATEWAY_WORKERS}` });
  }
  // A command sent behind a WAIT on the same connection (a settle, a stats flush) waits for it,
  // then runs: both must fit in the command timeout, or a stuck replica would turn them into
  // failed calls of unknown outcome (without a wait, REDIS_WAIT_TIMEOUT_MS is never used).
  if (!bad.has('REDIS_WAIT_TIMEOUT_MS') && !bad.has('REDIS_COMMAND_TIMEOUT_MS') && !bad.has('REDIS_WAIT_REPLICAS')
    && v.REDIS_WAIT_REPLICAS > 0 && v.REDIS_WAIT_TIMEOUT_MS * 2 > v.REDIS_COMMAND_TIMEOUT_MS) {
    issues.push({ name: 'REDIS_WAIT_TIMEOUT_MS', shown: String(v.REDIS_WAIT_TIMEOUT_MS),
      why: `is more than half of REDIS_COMMAND_TIMEOUT_MS=${v.REDIS_COMMAND_TIMEOUT_MS}` });
  }
  return issues;
}
