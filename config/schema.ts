/**
 * Kinds of setting: each declares how one variable's raw text parses (a zod schema), its
 * default, and the description the table printer and the README table show.
 */
import { z } from 'zod';

export type Env = Readonly<Record<string, string | undefined>>;

export type AppEnv = 'local' | 'test' | 'production';

/** A default computed at load time (from APP_ENV, or the host), with the text the tables show. */
export interface Computed<T> {
  readonly of: (appEnv: AppEnv) => T;
  readonly text: string;
}

/** One declared variable. */
export interface Setting<T> {
  /** Parses a raw value that counts as set (built on first use: most variables are unset). */
  readonly schema: () => z.ZodType<T, string>;
  readonly fallback: T | Computed<T>;
  /** Which raw values count as unset: only absence, or also '' (or also whitespace). */
  readonly unset: 'absent' | 'empty' | 'blank';
  readonly description: string;
  /** The values it accepts, as the tables show them. */
  readonly accepts: string;
  /** all: the value is never shown; url: a password inside the URL(s) is hidden. */
  readonly mask?: 'all' | 'url';
}

/** The parsed type of a setting. */
export type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** A default that depends on APP_ENV (or on the host), with its text for the tables. */
export function computed<T>(of: (appEnv: AppEnv) => T, text: string): Computed<T> {
  return { of, text };
}

function isComputed<T>(d: T | Computed<T>): d is Computed<T> {
  return typeof d === 'object' && d !== null && 'of' in d && 'text' in d;
}

/** The default's value for `appEnv`. */
export function defaultOf<T>(s: Setting<T>, appEnv: AppEnv): T {
  return isComputed(s.fallback) ? s.fallback.of(appEnv) : s.fallback;
}

/** The default as the tables show it. */
export function defaultText(s: Setting<unknown>): string {
  const d = s.fallback;
  if (isComputed(d)) return d.text;
  if (d === undefined) return '';
  if (Array.isArray(d)) return d.join(',');
  return String(d);
}

/** True when `raw` counts as unset for `s` (its default applies). */
export function isUnset(s: Setting<unknown>, raw: string | undefined): raw is undefined {
  if (raw === undefined) return true;
  if (s.unset === 'empty') return raw === '';
  if (s.unset === 'blank') return raw.trim() === '';
  return false;
}

/** `make()`, called once on the first call. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

const integer = once(() => z.string().regex(/^\s*-?\d+\s*$/, 'not an integer').transform(Number));

function bounded(min: number, max: number): () => z.ZodType<number, string> {
  const why = `must be within [${min}, ${max}]`;
  return once(() => integer().pipe(z.number().min(min, why).max(max, why)));
}

function range(min: number, max: number): string {
  return `integer ${min}-${max}`;
}

/** Integer in [min, max]; `def` when unset or empty. */
export function int(def: number | Computed<number>, min: number, max: number, description: string): Setting<number> {
  return { schema: bounded(min, max), fallback: def, unset: 'empty', description, accepts: range(min, max) };
}

/** Integer in [min, max], or undefined when unset or empty. */
export function optionalInt(min: number, max: number, description: string): Setting<number | undefined> {
  return { schema: bounded(min, max), fallback: undefined, unset: 'empty', description, accepts: range(min, max) };
}

/** Free string; `def` only when unset ('' is a value). */
export function str(def: string | Computed<string>, description: string, mask?: 'url'): Setting<string> {
  return { schema: once(() => z.string()), fallback: def, unset: 'absent', description, mask, accepts: mask === 'url' ? 'URL' : 'text' };
}

/** A secret of at least `minLength` characters, or undefined when unset or empty; never shown. */
export function secret(minLength: number, description: string): Setting<string | undefined> {
  return { ...secretWithDevDefault('', minLength, description), fallback: undefined };
}

/** A secret with a dev default (the gateway refuses the default in production); never shown. */
export function secretWithDevDefault(def: string, minLength: number, description: string): Setting<string> {
  const schema = once(() => z.string().min(minLength, `must be at least ${minLength} characters`));
  return { schema, fallback: def, unset: 'empty', description, mask: 'all', accepts: `${minLength}+ characters` };
}

const TRUE = ['1', 'true', 'yes', 'on'] as const;
const FALSE = ['0', 'false', 'no', 'off'] as const;
const boolean = once(() => z.string()
  .transform((raw) => raw.trim().toLowerCase())
  .pipe(z.enum([...TRUE, ...FALSE], { error: 'expected true or false' }))
  .transform((v) => (TRUE as readonly string[]).includes(v)));

/** Boolean from 1/0/true/false/yes/no/on/off. */
export function bool(def: boolean, description: string): Setting<boolean> {
  return { schema: boolean, fallback: def, unset: 'empty', description, accepts: 'true/false, 1/0, yes/no, on/off' };
}

/** One of a fixed set of words. */
export function oneOf<const T extends readonly [string, ...string[]]>(def: T[number], values: T, description: string): Setting<T[number]> {
  const schema = once(() => z.enum(values, { error: `expected one of ${values.join(', ')}` }) as unknown as z.ZodType<T[number], string>);
  return { schema, fallback: def, unset: 'empty', description, accepts: values.join(', ') };
}

/**
 * Comma-separated list of non-empty strings, each at least `minEach` characters; empty when
 * unset or blank. `mask`: the entries are secrets, or URLs that may hold a password.
 */
export function list(description: string, o: { minEach?: number; mask?: 'all' | 'url' } = {}): Setting<readonly string[]> {
  const min = o.minEach;
  const schema = once(() => z.string()
    .transform((raw) => raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(min === undefined ? z.string() : z.string().min(min, `every entry must be at least ${min} characters`))));
  const each = o.minEach === undefined ? '' : `, each ${o.minEach}+ characters`;
  return { schema, fallback: [], unset: 'blank', description, mask: o.mask, accepts: `comma-separated list${each}` };
}

/** Key-name pattern for prefixes that end up inside Redis keys and MySQL database names. */
export function identifier(def: string, description: string): Setting<string> {
  const schema = once(() => z.string().regex(/^[a-z][a-z0-9_]{0,30}$/, 'expected [a-z][a-z0-9_]{0,30}'));
  return { schema, fallback: def, unset: 'empty', description, accepts: '[a-z][a-z0-9_]{0,30}' };
}
