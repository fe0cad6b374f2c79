/**
 * coupon_template_total and coupon_template_remaining{template} for the templates that hold a
 * label of their own in coupon_claims_total (top-labels.ts), so a dashboard sets issued against
 * stock for the hot templates without a series per template. Remaining is read from Redis at
 * scrape time: one round of concurrent sub-stock reads for at most METRICS_TOP_TEMPLATES templates.
 */
import { Gauge, type Registry } from 'prom-client';
import type { StockView } from '../../templates/live.ts';
import type { Template } from '../../templates/model.ts';

export interface StockMetricsDeps {
  /** The templates labelled in coupon_claims_total at this scrape (read after it relabels). */
  readonly labelled: () => readonly string[];
  /** The cached template, if this process holds it. */
  readonly template: (id: string) => Template | undefined;
  /** Reads a template's stock from Redis (templates/live.ts LiveTemplates.stock). */
  readonly stock: (t: Template) => Promise<StockView>;
}

/** Registers both gauges; returns the count of scrapes whose stock read failed for some template. */
export function registerStockMetrics(registry: Registry, d: StockMetricsDeps): { readonly failures: () => number } {
  let failures = 0;
  const registers = [registry];
  const hot = () => d.labelled().map(d.template).filter((t): t is Template => t !== undefined);
  new Gauge({
    name: 'coupon_template_total', help: 'Total stock of each template labelled in coupon_claims_total.',
    labelNames: ['template'], registers,
    collect() {
      this.reset();
      for (const t of hot()) this.set({ template: t.id }, t.totalStock);
    },
  });
  new Gauge({
    name: 'coupon_template_remaining',
    help: 'Stock left in Redis of each template labelled in coupon_claims_total; a template whose read fails is left out (counted in coupon_redis_errors_total{kind="scrape"}).',
    labelNames: ['template'], registers,
    async collect() {
      this.reset();
      const templates = hot();
      // Settled one by one: a template with a sub-stock missing must not hide the others, nor fail the scrape.
      const read = await Promise.allSettled(templates.map((t) => d.stock(t)));
      read.forEach((r, i) => {
        if (r.status === 'fulfilled') this.set({ template: templates[i]!.id }, r.value.remaining);
      });
      if (read.some((r) => r.status === 'rejected')) failures++;
    },
  });
  return { failures: () => failures };
}
