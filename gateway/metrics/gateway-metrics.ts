/**
 * The gateway's /metrics registry. Everything but checkout calls is read at scrape time from
 * counters the gateway keeps anyway, so a scrape costs the claim path nothing between scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Admission } from '../admission.ts';
import type { BacklogMonitor } from '../backlog.ts';
import type { Breaker } from '../breaker.ts';
import type { TemplateCache } from '../cache/template-cache.ts';
import type { TemplateSync } from '../cache/template-sync.ts';
import type { ClaimCounter } from '../stats/counter.ts';
import type { LatencyBuckets } from '../stats/latency.ts';
import type { StockView } from '../../templates/live.ts';
import type { Template } from '../../templates/model.ts';
import { registerClaimMetrics } from './claim-metrics.ts';
import { registerStockMetrics } from './stock-metrics.ts';

export interface GatewayMetricsDeps {
  readonly counter: ClaimCounter;
  readonly latency: LatencyBuckets;
  readonly redisLatency: LatencyBuckets;
  readonly admission: Admission;
  readonly breaker: Breaker;
  readonly backlog: BacklogMonitor;
  readonly cache: TemplateCache;
  readonly sync: TemplateSync;
  /** Errors the Redis clients reported on their connections. */
  readonly redisConnectionErrors: () => number;
  /** Reads a template's stock from Redis, for coupon_template_remaining (templates/live.ts). */
  readonly stock: (t: Template) => Promise<StockView>;
  /** Templates with a label of their own in coupon_claims_total (METRICS_TOP_TEMPLATES). */
  readonly topTemplates: number;
  /** GATEWAY_WORKER_INDEX: a worker labels its numbers with it (each worker serves its own). */
  readonly worker: number | undefined;
}

/** A gauge or counter whose value is read when scraped. */
function reading(registry: Registry, type: 'gauge' | 'counter', name: string, help: string, read: () => number): void {
  const registers = [registry];
  if (type === 'gauge') new Gauge({ name, help, registers, collect() { this.set(read()); } });
  else new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
}

/** Checkout calls by route and outcome, counted as they answer (checkout-calls.ts). */
export type CheckoutCalls = Counter<'route' | 'outcome'>;

/** Builds the registry; returns it with the checkout counter the checkout routes increment. */
export function gatewayMetrics(d: GatewayMetricsDeps): { registry: Registry; checkout: CheckoutCalls } {
  const registry = new Registry();
  if (d.worker !== undefined) registry.setDefaultLabels({ worker: String(d.worker) });
  collectDefaultMetrics({ register: registry });
  const top = registerClaimMetrics(registry, d.counter, { claims: d.latency, redis: d.redisLatency }, d.topTemplates);
  // After the claims counter: its collect relabels first, and these gauges follow its labels.
  const stock = registerStockMetrics(registry, { labelled: () => top.keys, template: (id) => d.cache.peek(id)?.template, stock: d.stock });
  const registers = [registry];
  new Counter({
    name: 'coupon_admission_refusals_total', help: 'Claims refused by a token bucket (429 rate_limited), by bucket.',
    labelNames: ['bucket'], registers,
    collect() {
      this.reset();
      this.inc({ bucket: 'global' }, d.admission.refusedGlobal);
      this.inc({ bucket: 'template' }, d.admission.refusedTemplate);
    },
  });
  reading(registry, 'gauge', 'coupon_breaker_open', 'Redis circuit breaker of the claim path: 1 open (claims answer 503), 0 closed.',
    () => (d.breaker.isOpen ? 1 : 0));
  reading(registry, 'counter', 'coupon_breaker_opens_total', 'Times the Redis circuit breaker opened.', () => d.breaker.opens);
  new Counter({
    name: 'coupon_redis_errors_total',
    help: 'Redis errors: failed claim-path calls (call), connection errors (connection), scrapes whose stock read failed (scrape, counted from the next scrape on).',
    labelNames: ['kind'], registers,
    collect() {
      this.reset();
      this.inc({ kind: 'call' }, d.breaker.failures);
      this.inc({ kind: 'connection' }, d.redisConnectionErrors());
      this.inc({ kind: 'scrape' }, stock.failures());
    },
  });
  reading(registry, 'gauge', 'coupon_template_cache_size', 'Templates in this process\'s cache.', () => d.cache.size);
  new Counter({
    name: 'coupon_template_reloads_total', help: 'Full template reloads from MySQL (ok, failed) and change notices applied (notice).',
    labelNames: ['result'], registers,
    collect() {
      this.reset();
      this.inc({ result: 'ok' }, d.sync.reloads);
      this.inc({ result: 'failed' }, d.sync.reloadFailures);
      this.inc({ result: 'notice' }, d.sync.noticesApplied);
    },
  });
  reading(registry, 'gauge', 'coupon_stream_backlog', 'Stream entries the sinks have not acknowledged (all partitions), as last sampled; -1 before the first sample.',
    () => d.backlog.backlog);
  const checkout = new Counter({
    name: 'coupon_checkout_calls_total', help: 'Checkout calls by route (quote, lock, confirm, cancel, refund) and outcome (ok or the error code).',
    labelNames: ['route', 'outcome'] as const, registers,
  });
  return { registry, checkout };
}
