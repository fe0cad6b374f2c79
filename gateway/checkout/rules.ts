/**
 * What checkout needs besides the user's coupons: each template's scope and stackability (the
 * gateway's template cache, kept current by pub/sub) and the global blacklist (re-read from
 * MySQL at most every BLACKLIST_TTL_MS, one read shared by the requests that wait for it).
 */
import type { CheckoutRules, ItemBlacklist } from '../../checkout/model.ts';
import type { BlacklistStore } from '../../templates/blacklist.ts';
import type { TemplateCache } from '../cache/template-cache.ts';

export class CheckoutRulesSource {
  private blacklist: { at: number; list: Promise<ItemBlacklist> } | undefined;

  constructor(private readonly templates: TemplateCache, private readonly store: BlacklistStore, private readonly ttlMs: number) {}

  /** The rules of each template id; a template the cache cannot find is absent (its coupons are out of scope). */
  async rulesOf(templateIds: Iterable<string>, now: number): Promise<Map<string, CheckoutRules>> {
    const out = new Map<string, CheckoutRules>();
    for (const id of new Set(templateIds)) {
      const t = (await this.templates.get(id, now))?.template;
      if (t) out.set(id, { scope: t.scope, stackable: t.stackable });
    }
    return out;
  }

  /** The global blacklist as sets; a failed read is not kept, the next call tries again. */
  blacklistAt(now: number): Promise<ItemBlacklist> {
    if (this.blacklist && now - this.blacklist.at < this.ttlMs) return this.blacklist.list;
    const list = this.store.get().then((b) => ({ categories: new Set(b.categories), products: new Set(b.products) }));
    const entry = { at: now, list };
    this.blacklist = entry;
    list.catch(() => { if (this.blacklist === entry) this.blacklist = undefined; });
    return list;
  }
}
