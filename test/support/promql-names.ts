/** The metric names a PromQL expression reads, for checking dashboards and rules against a scrape. */

// Words of the language that are not metric names when not followed by "(".
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** A metric named in an expression, with the label names its selector matches on. */
export interface MetricRef {
  readonly name: string;
  readonly labels: readonly string[];
}

/**
 * Every metric selector of `expr`: strings, Grafana variables, label lists of by/without/on/
 * ignoring/group_* and range or subquery brackets are removed first; what is left that is a
 * word not followed by "(" and not a keyword or a number is a metric name.
 */
export function metricRefs(expr: string): MetricRef[] {
  let e = expr.replace(/\$\{?\w+\}?/g, ' ');
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  e = e.replace(/\[[^\]]*\]/g, ' ');
  const refs: MetricRef[] = [];
  // Selectors with matchers first, so their label names and values never look like metrics.
  e = e.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_, name: string | undefined, body: string) => {
    const labels = [...body.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    if (name !== undefined) refs.push({ name, labels });
    return ' ';
  });
  e = e.replace(/"(?:[^"\\]|\\.)*"/g, ' ');
  for (const m of e.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] === undefined && !KEYWORDS.has(m[1]!.toLowerCase()) && !/^\d/.test(m[1]!)) refs.push({ name: m[1]!, labels: [] });
  }
  return refs;
}

/** The metric a sample name belongs to: a histogram's _bucket, _sum and _count name the histogram. */
export function metricOf(sampleName: string): string {
  return sampleName.replace(/_(bucket|sum|count)$/, '');
}
