/**
 * Loads uWebSockets.js and refuses its pure-JS fallback: the unofficial build silently swaps in
 * a slow node:http shim when the native binary does not load (brief, section 3). The shim has
 * no getParts, so that is the test.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** The uWS module; throws unless the native binary loaded or the fallback is explicitly allowed. */
export function loadUws(allowFallback: boolean): typeof UWS {
  const uws = require('uWebSockets.js') as typeof UWS;
  if (typeof uws.getParts !== 'function' && !allowFallback) {
    throw new Error('uWebSockets.js native binary did not load (JS fallback refused; set ALLOW_UWS_FALLBACK=1 to run slowly anyway)');
  }
  return uws;
}
