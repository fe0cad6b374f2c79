/**
 * zod, extended with `.openapi()` (zod-to-openapi), and how a zod failure becomes the API's 400.
 * Request bodies other than the claim's are validated by zod schemas kept in the domain folders;
 * the same schemas describe them in the OpenAPI document (gateway/openapi/). Every schema module
 * imports `z` from here, so the extension is installed before any schema is built.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { isMap, notAMap } from './bodies.ts';
import { ApiError } from './errors.ts';

extendZodWithOpenApi(z);

export { z };

const ID_WHY = 'must be 1-64 characters of [A-Za-z0-9_.:-]';

/** A user, template or request id (core/ids.ts): case-sensitive, 1-64 characters of [A-Za-z0-9_.:-]. */
export const idSchema = z.string({ error: ID_WHY }).regex(/^[A-Za-z0-9_.:-]{1,64}$/, ID_WHY)
  .openapi({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', example: 'rain-2026' });

/**
 * An integer in [min, max]; `required` is the message for an absent (or null) one. zod's `.int()`
 * stops at 2^53: every bound here is below it.
 */
export function intSchema(min: number, max: number, required = 'is required'): z.ZodNumber {
  return z.number({ error: (iss) => (iss.input === undefined || iss.input === null ? required : 'must be an integer') })
    .int('must be an integer').min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`);
}

/** `scope.categories[3]`: the path of an issue as the API names fields. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : `${out === '' ? '' : '.'}${String(k)}`;
  return out;
}

/**
 * Parses a decoded JSON body with a strict object schema; the first issue becomes a 400 that
 * names its field and says why. `unknown(k)` explains a field the schema does not know.
 */
export function parseBody<S extends z.ZodObject>(schema: S, body: unknown,
  unknown: (k: string) => string = () => 'unknown field'): z.output<S> {
  if (!isMap(body)) throw notAMap(Object.keys(schema.shape), false);
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  // An unknown field first: a misspelt one (totalStok) explains the missing one (totalStock: is required).
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const k = issue.keys[0]!;
    throw new ApiError('bad_request', `${fieldPath([...issue.path, k])}: ${issue.path.length === 0 ? unknown(k) : 'unknown field'}`);
  }
  throw new ApiError('bad_request', `${issue.path.length === 0 ? 'body' : fieldPath(issue.path)}: ${issue.message}`);
}
