/**
 * What an issuer has seen of a template's sub-stocks: which ones it found empty. Shared by the
 * gateway's template cache and the sink's grant jobs, so both skip the same sub-stocks and call
 * a template sold out the same way (every sub-stock seen at zero).
 */

/** Sub-stocks seen empty, one flag per sub-stock; valid for one template version. */
export interface EmptyMarks {
  /** empty[k] = 1 once sub-stock k was seen at zero. */
  readonly empty: Uint8Array;
  emptyCount: number;
}

/** Fresh marks for a template of `subStocks` sub-stocks (nothing seen empty yet). */
export function emptyMarks(subStocks: number): EmptyMarks {
  return { empty: new Uint8Array(subStocks), emptyCount: 0 };
}

/** Marks sub-stock k empty (this process saw it at zero). */
export function markEmpty(c: EmptyMarks, k: number): void {
  if (c.empty[k] === 0) {
    c.empty[k] = 1;
    c.emptyCount++;
  }
}

/** True when every sub-stock is known to be empty. */
export function isSoldOut(c: EmptyMarks): boolean {
  return c.emptyCount >= c.empty.length;
}
