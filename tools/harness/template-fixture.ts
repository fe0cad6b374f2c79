/** A complete template with plain defaults, for tests and benchmarks that build one directly. */
import { ALL_PRODUCTS, type Template } from '../../templates/model.ts';

let seq = 0;

/** A valid direct template (10 in stock, 1 per user, 1 sub-stock, 30 days) with `over` applied. */
export function templateFixture(over: Partial<Template> = {}): Template {
  const now = Date.now();
  return {
    id: `tpl${++seq}`, name: 'test', type: 'direct', value: 100, threshold: null, maxDiscount: null, budget: null, minAmount: null,
    totalStock: 10, perUserLimit: 1, subStocks: 1, claimStart: null, claimEnd: null,
    validFrom: null, validTo: null, validDays: 30, scope: ALL_PRODUCTS, stackable: false, audience: null,
    status: 'active', version: 1, createdAt: now, updatedAt: now, ...over,
  };
}
