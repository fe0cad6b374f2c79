/**
 * The shape every request body must have once decoded: a map of fields. Shared by the claim
 * route and the template domain's field readers, with one message naming the route's fields.
 */
import { ApiError } from './errors.ts';

/**
 * True for a decoded JSON object or msgpack map. Not for arrays, null or scalars, nor for what
 * msgpack extensions decode to (Date, Set, Error, Buffer, the 0xC1 marker): their prototype is
 * not Object's, and their keys, if any, would be misread as fields.
 */
export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/** The 400 for a body that is not a map: the same words on every route, naming its fields. */
export function notAMap(fields: Iterable<string>, allowMsgpack: boolean): ApiError {
  return new ApiError('bad_request',
    `body: must be a JSON object${allowMsgpack ? ' or msgpack map' : ''} with the fields ${[...fields].join(', ')}`);
}
