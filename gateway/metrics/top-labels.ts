/**
 * Bounded label sets for per-template counters: at most `max` templates get a label of their
 * own, chosen by traffic, and the rest are summed as `other` (the `spread` scenario claims 2,000
 * templates; a series each would swamp Prometheus). Every series stays monotonic, as counters
 * must: a template labelled at a scrape counts what came since the previous scrape on (what
 * `other` already showed of it stays there as its `baseline`), and one that loses its label
 * hands its whole total to `other`. A label changes hands only when it has been idle for a scrape and an unlabelled
 * template has traffic, so an even spread does not churn series at every scrape.
 */

/** The label of every template without one of its own. */
export const OTHER = 'other';

export class TopLabels {
  /** Labelled keys and the totals `other` showed of them when they were labelled. */
  private readonly labelled = new Map<string, Float64Array>();
  /** Totals of every key at the previous call. */
  private readonly seen = new Map<string, Float64Array>();

  /** `max` labels of their own; slot `trafficSlot` of the counts ranks keys by traffic. */
  constructor(private readonly max: number, private readonly width: number, private readonly trafficSlot = 0) {}

  /** Keys holding a label of their own now. */
  get keys(): string[] {
    return [...this.labelled.keys()];
  }

  /**
   * Labels one scrape's totals (monotonic counts per key, `width` slots each): the labelled keys
   * with their counts since labelled, and OTHER with everything else. Adjusts the labels first.
   */
  label(totals: ReadonlyMap<string, Float64Array>): Map<string, Float64Array> {
    const recent = new Map<string, number>();
    const before = new Map(this.seen);
    for (const [key, c] of totals) {
      recent.set(key, c[this.trafficSlot]! - (this.seen.get(key)?.[this.trafficSlot] ?? 0));
      this.seen.set(key, Float64Array.from(c));
    }
    this.relabel(before, recent);
    const other = new Float64Array(this.width);
    const out = new Map<string, Float64Array>();
    for (const [key, c] of totals) {
      const base = this.labelled.get(key);
      if (base === undefined) {
        add(other, c, 1);
        continue;
      }
      const own = Float64Array.from(c);
      add(own, base, -1);
      add(other, base, 1);
      out.set(key, own);
    }
    out.set(OTHER, other);
    return out;
  }

  /** Gives free labels, then those of idle keys, to the busiest unlabelled keys. */
  private relabel(before: ReadonlyMap<string, Float64Array>, recent: ReadonlyMap<string, number>): void {
    const wanting = [...recent].filter(([k, n]) => n > 0 && !this.labelled.has(k))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    if (wanting.length === 0) return;
    const idle = [...this.labelled.keys()].filter((k) => (recent.get(k) ?? 0) === 0);
    for (const [key] of wanting) {
      if (this.labelled.size >= this.max) {
        const gone = idle.shift();
        if (gone === undefined) return;
        this.labelled.delete(gone);
      }
      this.labelled.set(key, before.get(key) ?? new Float64Array(this.width));
    }
  }
}

/** a += sign * b, slot by slot. */
function add(a: Float64Array, b: Float64Array, sign: number): void {
  for (let i = 0; i < a.length; i++) a[i]! += sign * b[i]!;
}
