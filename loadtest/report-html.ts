/**
 * report.html: a run's table, verdict and charts in one self-contained page (inline CSS, the SVG
 * charts inlined, no script, no external asset), so one file can be mailed or attached to a ticket.
 */

/** What the page shows; every text is escaped here, the SVGs are inlined as the charts wrote them. */
export interface HtmlReport {
  readonly title: string;
  /** Label/value lines under the title (run id, command line, start and end). */
  readonly facts: readonly (readonly [string, string])[];
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly ok: boolean;
  /** The summary as printed on the terminal: statuses, drain, verification, violations. */
  readonly text: string;
  readonly svgs: readonly string[];
  /** More tables under the summary, each with its title (the storage spread of a topology run). */
  readonly tables?: readonly { title: string; head: readonly string[]; rows: readonly (readonly string[])[] }[];
}

/** Text made safe for HTML element content and quoted attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const CSS = `body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
dt{font-weight:bold;float:left;clear:left;width:8em}dd{margin-left:9em}
.ok{color:#1a7f37}.failed{color:#c62828}pre{background:#f7f7f7;padding:1em;overflow-x:auto}
figure{margin:1em 0}svg{max-width:100%;height:auto}`;

/** The page. */
export function reportHtml(r: HtmlReport): string {
  const e = escapeHtml;
  const row = (cells: readonly string[], tag: 'th' | 'td') => `<tr>${cells.map((c) => `<${tag}>${e(c)}</${tag}>`).join('')}</tr>`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${e(r.title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${e(r.title)}</h1>`,
    `<dl>${r.facts.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl>`,
    `<h2 class="${r.ok ? 'ok' : 'failed'}">verification: ${r.ok ? 'OK' : 'FAILED'}</h2>`,
    `<table><thead>${row(r.head, 'th')}</thead><tbody>`,
    ...r.rows.map((cells) => row(cells, 'td')),
    '</tbody></table>',
    `<pre>${e(r.text)}</pre>`,
    ...(r.tables ?? []).flatMap((t) => [`<h2>${e(t.title)}</h2>`, `<table><thead>${row(t.head, 'th')}</thead><tbody>`,
      ...t.rows.map((cells) => row(cells, 'td')), '</tbody></table>']),
    ...r.svgs.map((svg) => `<figure>${svg}</figure>`),
    '</body></html>',
    '',
  ].join('\n');
}
