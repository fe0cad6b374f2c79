/** GET /metrics: the Prometheus text of this process, or of every worker (gateway/metrics/). */
import { ApiError } from '../../core/errors.ts';
import type { Handler } from '../http/route.ts';

/** Answers `scrape()`'s text; the scrape is one chunk, sent as a streamed body (not JSON). */
export function metricsHandler(scrape: () => Promise<string>, contentType: string): Handler {
  return async () => {
    // A worker whose supervisor is gone (it drains) cannot answer for the others: 503, not a 500.
    const text = Buffer.from(await scrape().catch((err: unknown) => {
      throw new ApiError('unavailable', `metrics: ${err instanceof Error ? err.message : String(err)}`);
    }));
    return { status: 200, body: null, stream: { size: text.length, contentType, next: () => text } };
  };
}
