/** Readers of single template fields: each returns the typed value or throws 400 naming the field. */
import { isMap, notAMap } from '../core/bodies.ts';
import { ApiError } from '../core/errors.ts';
import { isId } from '../core/ids.ts';
import { SCOPE_LISTS, type Scope } from './model.ts';

/** Largest amount of money in cents a template may name. */
export const MAX_CENTS = 1e12;
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);
/** Ids per scope list: scopes are checked at checkout, so they stay small enough to cache. */
export const MAX_SCOPE_IDS = 1000;

export type Body = Record<string, unknown>;

/** Throws the 400 every rule failure becomes. */
export function bad(field: string, why: string): never {
  throw new ApiError('bad_request', `${field}: ${why}`);
}

/** The body as an object with only known fields (admin bodies are JSON only). */
export function object(o: unknown, known: ReadonlySet<string>, explain: (k: string) => string = () => 'unknown field'): Body {
  if (!isMap(o)) throw notAMap(known, false);
  for (const k of Object.keys(o)) if (!known.has(k)) bad(k, explain(k));
  return o;
}

/** Integer in [min, max], or undefined when absent or null. */
export function int(o: Body, field: string, min: number, max: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(field, 'must be an integer');
  if (v < min || v > max) bad(field, `must be between ${min} and ${max}`);
  return v;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})T/;

/** Days in a month (1-12) of the Gregorian calendar. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** ISO 8601 date-time as epoch ms, or null when absent or null. */
export function time(o: Body, field: string): number | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  const date = typeof v === 'string' ? DATE.exec(v) : null;
  if (typeof v !== 'string' || date === null) bad(field, 'must be an ISO 8601 date-time');
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) bad(field, 'must be an ISO 8601 date-time');
  // Date.parse takes any day up to 31 and rolls it over: 2030-02-30 would become March 2.
  if (Number(date[3]) > daysInMonth(Number(date[1]), Number(date[2]))) bad(field, `${date[0].slice(0, 10)} is not a day of the calendar`);
  if (ms < MIN_TIME || ms > MAX_TIME) bad(field, 'must be between 2000 and 2100');
  return ms;
}

/** Boolean, or undefined when absent. */
export function boolean(o: Body, field: string): boolean | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') bad(field, 'must be true or false');
  return v;
}

/** Display name: 1-200 characters, no control characters, no lone surrogates. */
export function name(o: Body): string {
  const v = o.name;
  if (typeof v !== 'string' || v.trim() === '' || v.length > 200) bad('name', 'must be a string of 1-200 characters');
  if (/[\u0000-\u001f\u007f]/.test(v)) bad('name', 'must not contain control characters');
  // JSON's "\ud800" is half a pair: not text, and utf8mb4 cannot hold it (the driver stores U+FFFD).
  // With the u flag the class matches only unpaired surrogates.
  if (/[\ud800-\udfff]/u.test(v)) bad('name', 'must be valid Unicode text (it has a lone surrogate)');
  return v.trim();
}

/** A list of ids (duplicates dropped), at most `max` of them. */
export function idList(v: unknown, field: string, max: number): string[] {
  if (!Array.isArray(v)) bad(field, 'must be an array of ids');
  if (v.length > max) bad(field, `must hold at most ${max} ids`);
  v.forEach((id, i) => { if (!isId(id)) bad(`${field}[${i}]`, 'must be 1-64 characters of [A-Za-z0-9_.:-]'); });
  return [...new Set(v as string[])];
}

/** Product scope: include and exclude lists of categories and products. */
export function scope(v: unknown): Scope {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('scope', `must be an object with ${SCOPE_LISTS.join(', ')}`);
  const o = v as Body;
  for (const k of Object.keys(o)) if (!(SCOPE_LISTS as readonly string[]).includes(k)) bad(`scope.${k}`, 'unknown field');
  const get = (k: (typeof SCOPE_LISTS)[number]) => (o[k] === undefined ? [] : idList(o[k], `scope.${k}`, MAX_SCOPE_IDS));
  const s: Scope = {
    categories: get('categories'), products: get('products'),
    excludeCategories: get('excludeCategories'), excludeProducts: get('excludeProducts'),
  };
  const both = (inc: readonly string[], exc: readonly string[], what: string) => {
    const clash = inc.find((id) => exc.includes(id));
    if (clash !== undefined) bad(`scope.exclude${what}`, `${clash} is also in scope.${what.toLowerCase()}`);
  };
  both(s.categories, s.excludeCategories, 'Categories');
  both(s.products, s.excludeProducts, 'Products');
  return s;
}

/** Audience: a non-empty list of user ids, or null (everyone). */
export function audience(o: Body, max: number): string[] | null {
  if (o.audience === undefined || o.audience === null) return null;
  const list = idList(o.audience, 'audience', max);
  if (list.length === 0) bad('audience', 'must name at least one user (omit it or send null for everyone)');
  return list;
}
