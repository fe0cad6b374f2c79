/** Query-string parsing shared by the GET routes: known parameters only, bounded page sizes. */
import { ApiError } from '../../core/errors.ts';

/** Parses a query string; any parameter not in `allowed` is a 400. */
export function queryParams(query: string, allowed: ReadonlySet<string>): URLSearchParams {
  const q = new URLSearchParams(query);
  for (const k of q.keys()) if (!allowed.has(k)) throw new ApiError('bad_request', `${k}: unknown query parameter`);
  return q;
}

/** `limit` as an integer from 1 to `max`, `def` when absent. */
export function limitParam(q: URLSearchParams, def: number, max: number): number {
  const raw = q.get('limit');
  if (raw === null) return def;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new ApiError('bad_request', `limit: must be an integer from 1 to ${max}`);
  }
  return Number(raw);
}
