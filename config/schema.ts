/** Tiny typed env-schema helpers: each field parses one variable, with a default and bounds. */

export type Env = Readonly<Record<string, string | undefined>>;

/** A field reads one variable from the env and returns its typed value or throws with the name. */
export type Field<T> = (env: Env, name: string) => T;

function fail(name: string, raw: string, why: string): never {
  throw new Error(`config: ${name}=${JSON.stringify(raw)} is invalid: ${why}`);
}

/** Integer in [min, max]; `def` when unset or empty. */
export function int(def: number, min = 0, max = Number.MAX_SAFE_INTEGER): Field<number> {
  return (env, name) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if (!/^-?\d+$/.test(raw.trim())) fail(name, raw, 'not an integer');
    const n = Number(raw);
    if (n < min || n > max) fail(name, raw, `must be within [${min}, ${max}]`);
    return n;
  };
}

/** Integer in [min, max], or undefined when unset or empty. */
export function optionalInt(min = 0, max = Number.MAX_SAFE_INTEGER): Field<number | undefined> {
  return (env, name) => (env[name] === undefined || env[name] === '' ? undefined : int(0, min, max)(env, name));
}

/** Free string; `def` when unset. */
export function str(def: string): Field<string> {
  return (env, name) => env[name] ?? def;
}

/** Optional string: undefined when unset or empty. */
export function optional(): Field<string | undefined> {
  return (env, name) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
}

/** Boolean from 1/0/true/false/yes/no. */
export function bool(def: boolean): Field<boolean> {
  return (env, name) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    return fail(name, raw, 'expected true or false');
  };
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(def: T, values: readonly T[]): Field<T> {
  return (env, name) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if (!(values as readonly string[]).includes(raw)) fail(name, raw, `expected one of ${values.join(', ')}`);
    return raw as T;
  };
}

/** Comma-separated list of non-empty strings; `def` when unset. */
export function list(def: readonly string[]): Field<readonly string[]> {
  return (env, name) => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return def;
    return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  };
}

/** Key-name pattern for prefixes that end up inside Redis keys and MySQL database names. */
export function identifier(def: string): Field<string> {
  return (env, name) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return def;
    if (!/^[a-z][a-z0-9_]{0,30}$/.test(raw)) fail(name, raw, 'expected [a-z][a-z0-9_]{0,30}');
    return raw;
  };
}
