/** GET /healthz (process up) and GET /readyz (Redis and MySQL reachable, not draining). */
import type { RedisClient } from '../../lua/client.ts';
import type { MysqlPools } from '../../core/mysql.ts';
import type { Handler } from '../http/route.ts';

/** Liveness: answering at all is the signal. */
export const healthHandler: Handler = () => ({ status: 200, body: { status: 'ok' } });

async function probe(f: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
  try {
    return await Promise.race([f().then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness: a load balancer stops sending claims when this is 503. */
export function readyHandler(redis: RedisClient, mysql: MysqlPools, draining: () => boolean): Handler {
  return async () => {
    const [r, m] = await Promise.all([probe(() => redis.ping(), 1000), probe(() => mysql.main.query('SELECT 1'), 1000)]);
    const ready = r && m && !draining();
    const body = { status: ready ? 'ready' : 'not_ready', redis: r, mysql: m, draining: draining() };
    return { status: ready ? 200 : 503, body, headers: ready ? undefined : { 'Retry-After': '1' } };
  };
}
