/** What people read: the admin API's answers as tables (scripts use --json and get the answer itself). */
import { pairs, table } from './table.ts';

type Json = Record<string, any>;

/** Money and limits of a template in one cell: the API's cents as they read on a coupon. */
function offer(t: Json): string {
  const cents = (n: number) => (n / 100).toFixed(2);
  switch (t.type) {
    case 'discount': return `${t.value}% off${t.maxDiscount ? ` up to ${cents(t.maxDiscount)}` : ''}${t.threshold ? ` over ${cents(t.threshold)}` : ''}`;
    case 'threshold': return `${cents(t.value)} off over ${cents(t.threshold)}`;
    case 'red_packet': return `${cents(t.budget)} in packets of ${cents(t.minAmount)}+`;
    default: return `${cents(t.value)} off`;
  }
}

/** One line per template of a listing. */
export function templateList(templates: readonly Json[]): string {
  const rows = templates.map((t) => [t.id, t.name, t.type, offer(t), t.totalStock, t.perUserLimit, t.status, t.version, t.claimStart, t.claimEnd]);
  return `${table(['ID', 'NAME', 'TYPE', 'OFFER', 'STOCK', 'PER USER', 'STATUS', 'VERSION', 'CLAIM START', 'CLAIM END'], rows)}\n${templates.length} template(s)`;
}

/** A template's fields, and its live stock when the answer has it (show, top-up). */
export function templateDetail(t: Json, stock?: Json): string {
  const s = t.scope ?? {};
  const ids = (l: string[] | undefined) => (l && l.length > 0 ? l.join(',') : undefined);
  const audience = t.audience === undefined ? t.audienceSize : t.audience === null ? null : t.audience.length;
  const entries: [string, unknown][] = [
    ['id', t.id], ['name', t.name], ['type', t.type], ['offer', offer(t)], ['status', t.status], ['version', t.version],
    ['total stock', t.totalStock], ['per user', t.perUserLimit], ['sub-stocks', t.subStocks],
    ['claims', `${t.claimStart ?? 'open'} .. ${t.claimEnd ?? 'open'}`],
    ['use window', t.validDays !== null ? `${t.validDays} days after the claim` : `${t.validFrom ?? 'open'} .. ${t.validTo ?? 'open'}`],
    ['stackable', t.stackable], ['categories', ids(s.categories)], ['products', ids(s.products)],
    ['excluded categories', ids(s.excludeCategories)], ['excluded products', ids(s.excludeProducts)],
    ['audience', audience === null ? 'everyone' : `${audience} user(s)`], ['updated', t.updatedAt],
  ];
  if (stock) {
    entries.push(['remaining', stock.remaining], ['issued', stock.issued]);
    if (stock.budgetLeft !== undefined) entries.push(['budget left', stock.budgetLeft]);
  }
  return pairs(entries.map(([k, v]) => [k, v as string]));
}

/** Counters of GET .../stats: stock, rates over the last minute, refusals since creation. */
export function statsView(s: Json): string {
  const rejected = Object.entries(s.rejected as Record<string, number>);
  return pairs([
    ['template', s.templateId], ['total', s.total], ['issued', s.issued], ['remaining', s.remaining],
    [`claims/s (last ${s.windowSeconds} s)`, s.claimsPerSecond], [`issued/s (last ${s.windowSeconds} s)`, s.issuedPerSecond],
    ...rejected.map(([reason, n]) => [`rejected ${reason}`, n] as [string, number]),
  ]);
}

/** The answer of a top-up: what was asked, what was added, and the stock after it. */
export function topupView(r: Json): string {
  const head = pairs([
    ['request id', `${r.requestId}${r.replayed ? ' (replayed: already applied)' : ''}`], ['requested', r.requested], ['added', r.added],
  ]);
  return `${head}\n\n${templateDetail(r.template, r.stock)}`;
}
