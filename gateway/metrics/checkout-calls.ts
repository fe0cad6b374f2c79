/** Counts the answers of a checkout route by outcome (not the claim path: one counter call each is fine). */
import { ApiError } from '../../core/errors.ts';
import type { Handler } from '../http/route.ts';
import type { CheckoutCalls } from './gateway-metrics.ts';

/** Wraps `h` so each answer counts under `route`: "ok" for a 2xx, else the error code ("internal" for a crash). */
export function countCalls(calls: CheckoutCalls, route: string, h: Handler): Handler {
  return async (req) => {
    try {
      const reply = await h(req);
      const body = reply.body as { error?: unknown } | undefined;
      calls.inc({ route, outcome: reply.status < 300 ? 'ok' : typeof body?.error === 'string' ? body.error : String(reply.status) });
      return reply;
    } catch (err) {
      calls.inc({ route, outcome: err instanceof ApiError ? err.code : 'internal' });
      throw err;
    }
  };
}
