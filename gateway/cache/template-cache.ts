/**
 * The gateway's local template cache: a claim for a known template reads no template data from
 * Redis, and a template this process has seen sell out is answered from memory. Sub-stocks only
 * shrink within one version; a new version (top-up, rebuild, any change) starts from scratch.
 */
import { hash32 } from '../../core/shards.ts';
import { homePrefix } from '../../lua/keys.ts';
import type { Template } from '../../templates/model.ts';
import type { EmptyMarks } from '../../issuance/sub-stocks.ts';

export { isSoldOut, markEmpty } from '../../issuance/sub-stocks.ts';

/** A template as this process holds it, with the sub-stocks it saw empty (issuance/sub-stocks.ts). */
export interface CachedTemplate extends EmptyMarks {
  readonly template: Template;
  /** The named audience as a set, or null for everyone. */
  readonly audience: ReadonlySet<string> | null;
  /** Hashes of the template id that every claim would recompute (lua/keys.ts partitionAt, homeSubStockAt). */
  readonly idHash: number;
  readonly homePrefix: number;
}

export type Loader = (id: string) => Promise<Template | null>;

/** Wraps a load, e.g. to refuse it while Redis is failing (gateway/breaker.ts). */
export type LoadGuard = <T>(load: () => Promise<T>) => Promise<T>;

export class TemplateCache {
  private readonly entries = new Map<string, CachedTemplate>();
  private readonly missing = new Map<string, number>();
  private readonly loading = new Map<string, Promise<CachedTemplate | null>>();

  constructor(private readonly load: Loader, private readonly missTtlMs: number, private readonly missMax: number) {}

  /** The cached template, if any: a hit costs the claim path no promise. */
  peek(id: string): CachedTemplate | undefined {
    return this.entries.get(id);
  }

  /**
   * The template from memory, else from the loader once (concurrent misses share one load),
   * through `guard` when given: a hit never goes through it.
   */
  async get(id: string, now: number, guard?: LoadGuard): Promise<CachedTemplate | null> {
    const hit = this.entries.get(id);
    if (hit) return hit;
    const missUntil = this.missing.get(id);
    if (missUntil !== undefined) {
      if (missUntil > now) return null;
      this.missing.delete(id);
    }
    let p = this.loading.get(id);
    if (!p) {
      p = (guard ? guard(() => this.fetch(id, now)) : this.fetch(id, now)).finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  /** Puts a template in the cache unless the cached version is the same or newer. */
  put(t: Template): CachedTemplate {
    const old = this.entries.get(t.id);
    if (old && old.template.version >= t.version) return old;
    const entry: CachedTemplate = {
      template: t, empty: new Uint8Array(t.subStocks), emptyCount: 0,
      audience: t.audience === null ? null : new Set(t.audience),
      idHash: hash32(t.id), homePrefix: homePrefix(t.id),
    };
    this.entries.set(t.id, entry);
    this.missing.delete(t.id);
    return entry;
  }

  /**
   * A change to `version` was announced (undefined: maybe missed): forget a remembered miss and
   * reload the template if it is cached at an older version. True when the cache is current.
   */
  async notice(id: string, version?: number): Promise<boolean> {
    this.missing.delete(id);
    const cached = this.entries.get(id);
    if (!cached || (version !== undefined && cached.template.version >= version)) return true;
    const t = await this.load(id);
    if (t) this.put(t);
    return version === undefined || (this.entries.get(id)?.template.version ?? 0) >= version;
  }

  /** How many templates are cached. */
  get size(): number {
    return this.entries.size;
  }

  /** Ids of every cached template. */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  private async fetch(id: string, now: number): Promise<CachedTemplate | null> {
    const t = await this.load(id);
    if (t) return this.put(t);
    // Bounded: the oldest remembered miss goes first, so random ids cannot grow memory.
    if (this.missing.size >= this.missMax) this.missing.delete(this.missing.keys().next().value!);
    this.missing.set(id, now + this.missTtlMs);
    return null;
  }
}
