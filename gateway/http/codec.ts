/** Request/response body formats: JSON everywhere, msgpack (msgpackr) where a route allows it. */
import { isUtf8 } from 'node:buffer';
import { Packr } from 'msgpackr';
import { ApiError } from '../../core/errors.ts';

export type Format = 'json' | 'msgpack';

// Plain maps and arrays only: no record extension, so any msgpack client can read the answers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

// A charset parameter, its value quoted or not; "utf8" is a common label for UTF-8 too.
const CHARSET = /;\s*charset\s*=\s*("?)([^";\s]*)\1/i;
const UTF8 = new Set(['utf-8', 'utf8']);

/**
 * Which format a Content-Type names; throws 415 for anything the route does not accept,
 * including a charset other than UTF-8: bodies are decoded as UTF-8, so a Latin-1 or UTF-16
 * body would be misread into other strings rather than refused.
 */
export function formatOf(contentType: string, allowMsgpack: boolean): Format {
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  const format = type === 'application/json' ? 'json'
    : allowMsgpack && (type === 'application/msgpack' || type === 'application/x-msgpack') ? 'msgpack' : undefined;
  if (format === undefined) {
    throw new ApiError('unsupported_media_type',
      `Content-Type must be application/json${allowMsgpack ? ' or application/msgpack' : ''}`);
  }
  const charset = semi < 0 ? null : CHARSET.exec(contentType);
  if (charset !== null && !UTF8.has(charset[2]!.toLowerCase())) {
    throw new ApiError('unsupported_media_type', 'charset: only UTF-8 is accepted (charset=utf-8, or none)');
  }
  return format;
}

// Bodies up to the claim cap are parsed as they come: even 4 KB of brackets is cheap.
const SCAN_ABOVE_BYTES = 4096;
// The API's bodies nest a few levels (a template's scope lists); far more is an attack.
const MAX_DEPTH = 32;

/**
 * True when a JSON text nests arrays or objects deeper than `max` (strings are skipped):
 * JSON.parse of 1 MB of brackets would build ~30 MB of empty arrays.
 */
export function nestsDeeper(body: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Decodes a body; malformed input is a 400, never an exception that escapes. */
export function decodeBody(body: Buffer, format: Format): unknown {
  if (body.length === 0) throw new ApiError('bad_request', 'request body is empty');
  if (format === 'json' && body.length > SCAN_ABOVE_BYTES && nestsDeeper(body, MAX_DEPTH)) {
    throw new ApiError('bad_request', `body nests deeper than ${MAX_DEPTH} levels`);
  }
  // toString would silently turn bytes that are not UTF-8 into U+FFFD, and a name be stored so.
  if (format === 'json' && !isUtf8(body)) throw new ApiError('bad_request', 'body is not valid UTF-8');
  try {
    return format === 'json' ? JSON.parse(body.toString('utf8')) : packr.unpack(body);
  } catch {
    throw new ApiError('bad_request', format === 'json' ? 'body is not valid JSON' : 'body is not valid msgpack');
  }
}

/** Encodes a reply body. */
export function encodeBody(value: unknown, format: Format): string | Buffer {
  return format === 'json' ? JSON.stringify(value) : packr.pack(value);
}

/** The Content-Type header value of a format. */
export function contentTypeOf(format: Format): string {
  return format === 'json' ? 'application/json' : 'application/msgpack';
}
