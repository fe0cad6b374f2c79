/**
 * A small line chart as standalone SVG (opens in any browser), written by hand so the report
 * needs no charting dependency: axes with round ticks, a legend, optional vertical markers.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface Tick {
  readonly value: number;
  readonly label: string;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Fixed x ticks (e.g. percentiles); round numbers when absent. */
  readonly xTicks?: readonly Tick[];
  /** Labelled vertical lines (e.g. phase starts). */
  readonly markers?: readonly Tick[];
  readonly width?: number;
  readonly height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const PAD = { left: 70, right: 20, top: 40, bottom: 70 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : Number(v.toPrecision(3)).toString());

/** About `count` round tick values (1, 2 or 5 times a power of ten) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1]! < max) out.push(Number((out[out.length - 1]! + step).toPrecision(12)));
  return out;
}

/** Renders the chart; series with no points are left out of the plot but named in the legend. */
export function lineChart(c: ChartSpec): string {
  const W = c.width ?? 900;
  const H = c.height ?? 500;
  const all = c.series.flatMap((s) => s.points);
  const xs = c.xTicks ? c.xTicks.map((t) => t.value) : niceTicks(Math.min(0, ...all.map((p) => p[0])), Math.max(1, ...all.map((p) => p[0])));
  const ys = niceTicks(0, Math.max(0.001, ...all.map((p) => p[1])));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [ys[0]!, ys[ys.length - 1]!];
  const px = (x: number) => PAD.left + ((x - x0) / (x1 - x0 || 1)) * (W - PAD.left - PAD.right);
  const py = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - PAD.top - PAD.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (const y of ys) {
    out.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`,
      `<text x="${PAD.left - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y)}</text>`);
  }
  const xTicks = c.xTicks ?? xs.map((v) => ({ value: v, label: fmt(v) }));
  for (const t of xTicks) {
    out.push(`<line x1="${px(t.value)}" x2="${px(t.value)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#f0f0f0"/>`,
      `<text x="${px(t.value)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${esc(t.label)}</text>`);
  }
  (c.markers ?? []).forEach((m, i) => {
    // labels step down so markers close together stay readable.
    out.push(`<line x1="${px(m.value)}" x2="${px(m.value)}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999" stroke-dasharray="4 3"/>`,
      `<text x="${px(m.value) + 4}" y="${PAD.top + 14 + 14 * i}" fill="#555">${esc(m.label)}</text>`);
  });
  out.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${W / 2}" y="${H - PAD.bottom + 36}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(16 ${(H - PAD.bottom + PAD.top) / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
      if (s.points.length === 1) out.push(`<circle cx="${px(s.points[0]![0])}" cy="${py(s.points[0]![1])}" r="3" fill="${color}"/>`);
    }
    const lx = PAD.left + 10 + i * 150;
    out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${H - 16}" y2="${H - 16}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 26}" y="${H - 12}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
