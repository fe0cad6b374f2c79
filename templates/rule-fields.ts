/**
 * zod schemas of single template fields, each refusing with the words the API has always used;
 * rules.ts assembles them into the create and change bodies and adds the cross-field rules.
 */
import { ApiError } from '../core/errors.ts';
import { idSchema, intSchema, z } from '../core/zod.ts';
import { SCOPE_LISTS } from './model.ts';

/** Largest amount of money in cents a template may name. */
export const MAX_CENTS = 1e12;
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);
/** Ids per scope list: scopes are checked at checkout, so they stay small enough to cache. */
export const MAX_SCOPE_IDS = 1000;

/** Throws the 400 every rule failure becomes. */
export function bad(field: string, why: string): never {
  throw new ApiError('bad_request', `${field}: ${why}`);
}

/** An optional integer in [min, max]; null counts as absent. */
export const optInt = (min: number, max: number) => intSchema(min, max).nullish();

const DATE = /^(\d{4})-(\d{2})-(\d{2})T/;

/** Days in a month (1-12) of the Gregorian calendar. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Why `v` is not an ISO 8601 date-time between 2000 and 2100, or undefined when it is one. */
function timeFault(v: string): string | undefined {
  const date = DATE.exec(v);
  const ms = Date.parse(v);
  if (date === null || Number.isNaN(ms)) return 'must be an ISO 8601 date-time';
  // Date.parse takes any day up to 31 and rolls it over: 2030-02-30 would become March 2.
  if (Number(date[3]) > daysInMonth(Number(date[1]), Number(date[2]))) return `${date[0].slice(0, 10)} is not a day of the calendar`;
  if (ms < MIN_TIME || ms > MAX_TIME) return 'must be between 2000 and 2100';
  return undefined;
}

/** An ISO 8601 date-time (2000-2100), or null/absent for "open"; timeMs reads it. */
export const timeField = z.string({ error: 'must be an ISO 8601 date-time' }).superRefine((v, ctx) => {
  const why = timeFault(v);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
}).nullish().openapi({ format: 'date-time', example: '2030-01-01T20:00:00Z' });

/** Epoch ms of a time field that passed timeField, or null. */
export function timeMs(v: string | null | undefined): number | null {
  return v === undefined || v === null ? null : Date.parse(v);
}

/** A boolean; null is not one. */
export const boolField = z.boolean({ error: 'must be true or false' }).optional();

const NAME_WHY = 'must be a string of 1-200 characters';

/** Display name: 1-200 characters, no control characters, no lone surrogates (stored trimmed). */
export const nameField = z.string({ error: NAME_WHY })
  .refine((v) => v.trim() !== '' && v.length <= 200, NAME_WHY)
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters')
  // JSON's "\ud800" is half a pair: not text, and utf8mb4 cannot hold it (the driver stores U+FFFD).
  // With the u flag the class matches only unpaired surrogates.
  .refine((v) => !/[\ud800-\udfff]/u.test(v), 'must be valid Unicode text (it has a lone surrogate)')
  .openapi({ minLength: 1, maxLength: 200, example: '20:00 rain' });

/**
 * A list of ids, at most `max` of them (duplicates are accepted and dropped by the reader);
 * `required` is the message for an absent list.
 */
export function idList(max: number, required = 'must be an array of ids') {
  return z.array(idSchema, { error: (iss) => (iss.input === undefined ? required : 'must be an array of ids') })
    .max(max, `must hold at most ${max} ids`);
}

/** Product scope: include and exclude lists of categories and products, each up to MAX_SCOPE_IDS ids. */
export const scopeField = z.strictObject(Object.fromEntries(SCOPE_LISTS.map((k) => [k, idList(MAX_SCOPE_IDS).optional()])) as
  Record<(typeof SCOPE_LISTS)[number], z.ZodOptional<ReturnType<typeof idList>>>,
{ error: `must be an object with ${SCOPE_LISTS.join(', ')}` })
  .superRefine((s, ctx) => {
    for (const what of ['Categories', 'Products'] as const) {
      const inc = s[what === 'Categories' ? 'categories' : 'products'] ?? [];
      const clash = inc.find((id) => (s[`exclude${what}`] ?? []).includes(id));
      if (clash !== undefined) ctx.addIssue({ code: 'custom', path: [`exclude${what}`], message: `${clash} is also in scope.${what.toLowerCase()}` });
    }
  }).openapi('Scope', { description: 'Empty include lists mean every product; the exclude lists (and the global blacklist) win.' });

/** Audience: user ids up to `max`, or null/absent for everyone; an empty list is refused. */
export function audienceField(max: number) {
  return idList(max).min(1, 'must name at least one user (omit it or send null for everyone)').nullish();
}

/** Ids without their repeats, in first-seen order. */
export const distinct = (ids: readonly string[]): string[] => [...new Set(ids)];
