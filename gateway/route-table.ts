/**
 * The gateway's route table, taken from the registration itself: a uWS app wrapped by
 * `recording` notes every pattern registered on it. The OpenAPI test compares it with the
 * document both ways, so a route cannot be served without being described (or the reverse).
 */
import type { TemplatedApp } from './http/uws.ts';

/** uWS registration methods (`del` is DELETE; `any` a fallback, e.g. a 405 for other methods). */
const METHODS = new Set(['get', 'post', 'put', 'patch', 'del', 'options', 'head', 'any']);

export interface RouteEntry {
  /** HTTP method in lower case (delete for del), or `any`. */
  readonly method: string;
  /** The uWS pattern: /v1/admin/templates/:id. */
  readonly pattern: string;
  /** Which listener serves it: the public one, or the admin one (ADMIN_ROUTES=separate). */
  readonly listener: 'public' | 'admin';
}

/** `app`, noting into `table` each route registered on it; chained calls stay on the wrapper. */
export function recording(app: TemplatedApp, table: RouteEntry[], listener: RouteEntry['listener']): TemplatedApp {
  const wrapper: TemplatedApp = new Proxy(app, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (typeof prop !== 'string' || !METHODS.has(prop)) return v.bind(target);
      return (pattern: string, handler: unknown) => {
        table.push({ method: prop === 'del' ? 'delete' : prop, pattern, listener });
        v.call(target, pattern, handler);
        return wrapper;
      };
    },
  });
  return wrapper;
}
