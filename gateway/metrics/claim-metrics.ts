/**
 * The claim path's numbers for /metrics, read at scrape time from what the claim path keeps
 * anyway (stats/counter.ts, stats/latency.ts): no prom-client call is made per claim.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { type ClaimCounter, OUTCOME_OF_SLOT, SLOTS } from '../stats/counter.ts';
import { LATENCY_BOUNDS_MS, type LatencyBuckets } from '../stats/latency.ts';
import { OTHER, TopLabels } from './top-labels.ts';

const CLAIM_HELP = 'Time from a claim\'s arrival in the claim service to its decision, for claims of a known template.';
const REDIS_HELP = 'Duration of the claim path\'s Redis calls, failed ones included; one call carries a group of claims (group commit).';

/**
 * A histogram whose buckets come from LatencyBuckets, not from observe(): it replaces the values
 * prom-client's Histogram renders (getForPromString, which its get() also reads).
 */
class BucketsHistogram extends Histogram<string> {
  constructor(private readonly source: LatencyBuckets, registry: Registry, private readonly metric: string, private readonly text: string) {
    super({ name: metric, help: text, buckets: LATENCY_BOUNDS_MS.map((ms) => ms / 1000), registers: [registry] });
  }

  async getForPromString() {
    const name = this.metric;
    const sample = (suffix: string, labels: Record<string, string | number>, value: number) =>
      ({ metricName: `${name}_${suffix}`, labels, sharedLabels: {}, value });
    const values = [];
    let cumulative = 0;
    for (let i = 0; i <= LATENCY_BOUNDS_MS.length; i++) {
      cumulative += this.source.counts[i]!;
      values.push(sample('bucket', { le: i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i]! / 1000 : '+Inf' }, cumulative));
    }
    values.push(sample('sum', {}, this.source.sumMs / 1000), sample('count', {}, cumulative));
    return { name, help: this.text, type: 'histogram', values, aggregator: 'sum' };
  }
}

/**
 * Registers coupon_claims_total{outcome,template} (the top `topTemplates` templates by traffic
 * and `other`), coupon_claim_duration_seconds and coupon_redis_call_duration_seconds; returns the
 * labels, which stock-metrics.ts follows.
 */
export function registerClaimMetrics(registry: Registry, counter: ClaimCounter, latency: { claims: LatencyBuckets; redis: LatencyBuckets },
  topTemplates: number): TopLabels {
  const top = new TopLabels(topTemplates, SLOTS);
  new Counter({
    name: 'coupon_claims_total', registers: [registry], labelNames: ['outcome', 'template'],
    help: `Claims by outcome. template: the ${topTemplates} busiest templates, the rest and claims refused before their template was known as "${OTHER}".`,
    collect() {
      this.reset();
      for (const [template, counts] of top.label(counter.totals())) {
        for (let slot = 1; slot < SLOTS; slot++) {
          // Issued is always shown, so every labelled template has a series to graph.
          if (counts[slot]! > 0 || slot === 1) this.inc({ outcome: OUTCOME_OF_SLOT[slot]!, template }, counts[slot]!);
        }
      }
      for (const [outcome, n] of counter.early) this.inc({ outcome, template: OTHER }, n);
    },
  });
  new BucketsHistogram(latency.claims, registry, 'coupon_claim_duration_seconds', CLAIM_HELP);
  new BucketsHistogram(latency.redis, registry, 'coupon_redis_call_duration_seconds', REDIS_HELP);
  return top;
}
