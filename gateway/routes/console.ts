/**
 * GET /console: the operator console, three static files of gateway/console/ read once at
 * start-up. Served wherever the admin routes are (ADMIN_ROUTES), and WITHOUT the admin token:
 * the files are the same for everyone and hold no data; a browser cannot attach a bearer token
 * to a page it navigates to; and every piece of data the page shows comes from the admin API,
 * which the page's script calls with the token the operator types in (kept in sessionStorage).
 */
import { readFileSync } from 'node:fs';
import type { Handler } from '../http/route.ts';

const DIR = new URL('../console/', import.meta.url);

// The page runs only its own script and style and talks only to its own origin: an id or
// name an operator created cannot run as script even if some code put it in as markup.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Path under /console, file name in gateway/console/, Content-Type. */
const FILES = [
  ['/console', 'index.html', 'text/html; charset=utf-8'],
  ['/console/console.js', 'console.js', 'text/javascript; charset=utf-8'],
  ['/console/console.css', 'console.css', 'text/css; charset=utf-8'],
] as const;

/** One static file as a handler: its bytes, its type and the console's security headers. */
function staticFile(bytes: Buffer, contentType: string): Handler {
  const headers = {
    // No versioned file names without a build step: the browser revalidates (the files are a few KB).
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
  return () => ({ status: 200, body: null, headers, stream: { size: bytes.length, contentType, next: () => bytes } });
}

/** The console's routes, path -> handler; reads the files now (start-up), so a missing file fails the start. */
export function consoleRoutes(): [path: string, handler: Handler][] {
  return FILES.map(([path, file, type]) => [path, staticFile(readFileSync(new URL(file, DIR)), type)]);
}
