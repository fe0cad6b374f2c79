/** GET /metrics: the Prometheus text of this process (gateway/metrics/gateway-metrics.ts). */
import type { Registry } from 'prom-client';
import type { Handler } from '../http/route.ts';

/** Answers the registry's text; the scrape is one chunk, sent as a streamed body (not JSON). */
export function metricsHandler(registry: Registry): Handler {
  return async () => {
    const text = Buffer.from(await registry.metrics());
    return { status: 200, body: null, stream: { size: text.length, contentType: registry.contentType, next: () => text } };
  };
}
