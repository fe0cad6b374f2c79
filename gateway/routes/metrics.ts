/** GET /metrics: the Prometheus text of this process, or of every worker (gateway/metrics/). */
import type { Handler } from '../http/route.ts';

/** Answers `scrape()`'s text; the scrape is one chunk, sent as a streamed body (not JSON). */
export function metricsHandler(scrape: () => Promise<string>, contentType: string): Handler {
  return async () => {
    const text = Buffer.from(await scrape());
    return { status: 200, body: null, stream: { size: text.length, contentType, next: () => text } };
  };
}
