/** Plain text tables for people: columns padded to their widest cell. */

type Cell = string | number | boolean | null | undefined;

const text = (c: Cell) => (c === null || c === undefined || c === '' ? '-' : String(c));

/** Rows under a header, each column as wide as its widest cell. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(text))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Two columns: a name and its value, one pair a line. */
export function pairs(entries: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join('\n');
}
