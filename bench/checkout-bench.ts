/**
 * Checkout (issue 13), on the real gateway and sink: (a) quote latency of a user holding 50
 * coupons of 50 templates (claimed through POST /v1/claim; scoped to categories, some stackable,
 * direct, threshold and discount), 20-item carts, open loop at --quote-rate for --duration; (b)
 * lock + confirm pairs per second, closed loop at --checkout-concurrency, each pair on a distinct
 * coupon, with the CPU µs per pair of each process from /proc. The coupons of (b) come from an
 * autocannon claim run on the same stack, which gives the claim rate of the same session; a bare
 * uWS hello run gives the ratio every other section reports. Every pair is then checked in MySQL.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlPools } from '../core/mysql.ts';
import { shardDbName, shardTables, type ShardLayout } from '../core/shards.ts';
import { onCleanup } from '../tools/harness/cleanup.ts';
import { type CpuShare, cpuMeter } from '../tools/harness/cpu.ts';
import { type LoadResult, runAutocannon } from '../tools/harness/http-load.ts';
import { spawnNode, waitForLog, waitForOutput } from '../tools/harness/processes.ts';
import { drained } from '../tools/harness/storage.ts';
import { type StatusDelta, statusMeter } from '../tools/harness/mysql-stats.ts';
import { benchConfig, childEnv, openBenchStorage, serverFacts, waitUntil, GUARDS_OFF } from '../tools/harness/bench-storage.ts';
import { storedCoupons } from '../tools/verify/facts.ts';
import { type OpenLoopResult, openLoop, pairLoop, type PairsResult, type PairTarget } from './checkout-load.ts';
import type { BenchOptions } from './options.ts';

export interface CheckoutBenchResult {
  readonly hello: LoadResult;
  readonly quote: OpenLoopResult & { readonly rate: number; readonly usable: number; readonly best: number; readonly cpu: CpuShare[] };
  readonly claim: LoadResult;
  readonly cpuClaim: CpuShare[];
  readonly pairs: PairsResult & { readonly concurrency: number };
  readonly cpuPairs: CpuShare[];
  /** MariaDB's status counters over the measured pairs (the server's: other clients count too). */
  readonly mysqlPairs: StatusDelta;
  /** Coupons used and 'confirmed' control rows in MySQL after the pairs, and coupons confirmed twice. */
  readonly stored: { readonly used: number; readonly confirmed: number; readonly doubles: number };
  readonly servers: { redisVersion: string; mariadbVersion: string };
  readonly failures: string[];
}

// The guards off, as in section 1: the bench measures the path.
const LIMITS = GUARDS_OFF;
const QUOTE_TEMPLATES = 50;
const CART_ITEMS = 20;
const CATEGORIES = 10;
// Distinct carts the quote load cycles through.
const CARTS = 200;
const QUOTE_SOCKETS = 50;
// Users of the claim run per autocannon connection; each gets several coupons (limit 100).
const CLAIM_USERS_PER_CONNECTION = 200;

/** Template i of the quote user: direct, threshold or discount by turn, scoped to one category (every fifth to all), every other one stackable. */
function quoteTemplate(i: number): Record<string, unknown> {
  const money = [{ type: 'direct', value: 100 + 10 * i }, { type: 'threshold', value: 500 + 10 * i, threshold: 3000 },
    { type: 'discount', value: 5 + (i % 10), maxDiscount: 1500 }][i % 3]!;
  return { name: `quote-${i}`, ...money, totalStock: 10, perUserLimit: 1, stackable: i % 2 === 0,
    ...(i % 5 === 4 ? {} : { scope: { categories: [`c${i % CATEGORIES}`] } }) };
}

/** A 20-item cart of `userId` over the categories (and one no coupon names). */
function cart(userId: string, seed: number): Buffer {
  const items = Array.from({ length: CART_ITEMS }, (_, j) => ({
    productId: `p${(seed * 31 + j) % 997}`, categoryId: j % 7 === 6 ? 'c-none' : `c${(seed + j) % CATEGORIES}`,
    price: 500 + ((seed * 17 + j * 101) % 9500), quantity: 1 + ((seed + j) % 3),
  }));
  return Buffer.from(JSON.stringify({ userId, items }));
}

/** Runs the checkout section. */
export async function runCheckoutBench(o: BenchOptions): Promise<CheckoutBenchResult> {
  const failures: string[] = [];
  const ac = (label: string, url: string, templateId: string, durationS: number) => {
    console.log(`checkout: autocannon ${label}: ${o.connections} connections, ${durationS} s`);
    return runAutocannon({ label, url, path: new URL(url).pathname, templateId, connections: o.connections, durationS,
      usersPerConnection: CLAIM_USERS_PER_CONNECTION });
  };

  const helloChild = spawnNode('hello server', 'bench/hello-server.ts', {});
  const stopHello = onCleanup('hello server', () => helloChild.stop());
  const helloUrl = `http://127.0.0.1:${(await waitForOutput(helloChild, /hello listening port=(\d+)/, 20_000))[1]}/v1/claim`;
  if (o.warmupS > 0) await ac('hello warm-up', helloUrl, 'hello', o.warmupS);
  const hello = await ac('hello', helloUrl, 'hello', o.durationS);
  await stopHello();

  const cfg = benchConfig('checkout', LIMITS);
  const st = await openBenchStorage(cfg);
  onCleanup('checkout storage', () => st.cleanup());
  const facts = await serverFacts(st);
  const sink = spawnNode('sink', 'sink/main.ts', childEnv(cfg, LIMITS), { profileDir: o.profileDir });
  onCleanup('sink', () => sink.stop(15_000));
  await waitForLog(sink, 'running', 30_000);
  const gateway = spawnNode('gateway', 'gateway/main.ts', childEnv(cfg, LIMITS), { profileDir: o.profileDir });
  onCleanup('gateway', () => gateway.stop(15_000));
  const base = `http://127.0.0.1:${(await waitForLog(gateway, 'gateway listening', 30_000)).port}`;
  const servers = { gateway: { tree: gateway.proc.pid }, mariadb: facts.mariadbPid, 'load generator': process.pid,
    sink: sink.proc.pid, redis: facts.redisPid };
  const call = async (path: string, body: unknown, want = 200, admin = false) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(admin ? { authorization: `Bearer ${cfg.adminToken}` } : {}) } });
    if (r.status !== want) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<any>;
  };

  // (a) one user, 50 coupons claimed through the real path, quoted at a fixed rate.
  const quoteUser = 'quote-user';
  for (let i = 0; i < QUOTE_TEMPLATES; i++) {
    const t = await call('/v1/admin/templates', quoteTemplate(i), 201, true);
    await call('/v1/claim', { userId: quoteUser, templateId: t.id });
  }
  if (!(await waitUntil(() => drained(st), 60_000))) throw new Error('checkout: the sink did not store the quote user\'s coupons');
  const carts = Array.from({ length: CARTS }, (_, k) => cart(quoteUser, k));
  const sample = await call('/v1/checkout/quote', JSON.parse(carts[0]!.toString()));
  console.log(`checkout: quote of ${QUOTE_TEMPLATES} coupons on a ${CART_ITEMS}-item cart: ${sample.usable.length} usable, best ` +
    `${sample.best.couponIds.length} coupons, ${sample.best.discount} off`);
  if (sample.usable.length + sample.unusable.length !== QUOTE_TEMPLATES) failures.push(`checkout: the quote weighed ${sample.usable.length + sample.unusable.length} coupons, not ${QUOTE_TEMPLATES}`);
  const quoteRate = o.quoteRate;
  if (o.warmupS > 0) await openLoop(`${base}/v1/checkout/quote`, carts, quoteRate, o.warmupS, QUOTE_SOCKETS);
  console.log(`checkout: quotes, open loop at ${quoteRate}/s for ${o.durationS} s`);
  let m = cpuMeter(servers);
  const q = await openLoop(`${base}/v1/checkout/quote`, carts, quoteRate, o.durationS, QUOTE_SOCKETS);
  const quote = { ...q, rate: quoteRate, usable: sample.usable.length as number, best: sample.best.couponIds.length as number, cpu: m.finish() };
  if ((q.statuses['200'] ?? 0) !== q.latency.count) failures.push(`checkout: quotes answered ${JSON.stringify(q.statuses)}`);

  // (b) the claim rate of this stack, whose coupons the pairs then lock and confirm.
  const claimT = await call('/v1/admin/templates', { name: 'checkout-claims', type: 'direct', value: 100, totalStock: 5_000_000, perUserLimit: 100 }, 201, true);
  const claimUrl = `${base}/v1/claim`;
  if (o.warmupS > 0) await ac('claim warm-up', claimUrl, claimT.id, o.warmupS);
  m = cpuMeter(servers);
  const claim = await ac('claim', claimUrl, claimT.id, o.durationS);
  const cpuClaim = m.finish();
  if (!(await waitUntil(() => drained(st), 120_000))) throw new Error('checkout: the sink did not drain the claims within 120 s');
  const layout = { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables };
  const rows = await storedCoupons(st.mysql, cfg.mysql.dbPrefix, layout, { ids: [claimT.id] });
  // shuffled, so concurrent pairs land on different users and shard tables, as real orders do.
  const targets: PairTarget[] = rows.map((r) => ({ couponId: r.couponId, userId: r.userId }));
  for (let i = targets.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [targets[i], targets[j]] = [targets[j]!, targets[i]!];
  }
  console.log(`checkout: ${targets.length} coupons stored for the pairs; lock + confirm, ${o.checkoutConcurrency} at a time`);
  const next = { i: 0 };
  const warm = o.warmupS > 0 ? (await pairLoop(base, targets, next, 'bench-o', o.checkoutConcurrency, o.warmupS)).pairs : 0;
  const status = await statusMeter(st.mysql);
  m = cpuMeter(servers);
  const p = await pairLoop(base, targets, next, 'bench-o', o.checkoutConcurrency, o.durationS);
  const cpuPairs = m.finish();
  const mysqlPairs = await status.finish();
  if (next.i >= targets.length) failures.push(`checkout: the pairs ran out of coupons (${targets.length}) before ${o.durationS} s`);
  const bad = [...Object.entries(p.statuses.lock), ...Object.entries(p.statuses.confirm)].filter(([s]) => s !== '200');
  if (bad.length > 0) failures.push(`checkout: lock/confirm answers other than 200: ${JSON.stringify(p.statuses)}`);

  const stored = await storedPairs(st.mysql, cfg.mysql.dbPrefix, layout, claimT.id);
  if (stored.used !== warm + p.pairs || stored.confirmed !== stored.used || stored.doubles > 0) {
    failures.push(`checkout: MySQL holds ${stored.used} used coupons, ${stored.confirmed} confirmed orders, ${stored.doubles} coupons confirmed twice`);
  }
  if (gateway.exited) failures.push(`gateway exited during the load:\n${gateway.tail().slice(-2000)}`);
  return { hello, quote, claim, cpuClaim, pairs: { ...p, concurrency: o.checkoutConcurrency }, cpuPairs, mysqlPairs, stored, servers: facts, failures };
}

/** Used coupons of the template, confirmed control rows of the bench's orders, and coupons with two of them, over all shards. */
async function storedPairs(mysql: MysqlPools, dbPrefix: string, layout: ShardLayout, templateId: string): Promise<CheckoutBenchResult['stored']> {
  let used = 0;
  let confirmed = 0;
  let doubles = 0;
  for (const { db, name } of shardTables(dbPrefix, layout)) {
    const [r] = await mysql.forDb(db).query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${name} WHERE template_id = ? AND status = 'used'`, [templateId]);
    used += Number(r[0]!.n);
  }
  for (let db = 0; db < layout.dbs; db++) {
    const name = `\`${shardDbName(dbPrefix, db)}\``;
    const [c] = await mysql.forDb(db).query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, COUNT(*) - COUNT(DISTINCT coupon_id) AS d FROM ${name}.coupon_order WHERE state = 'confirmed' AND order_id LIKE 'bench-o%'`);
    confirmed += Number(c[0]!.n);
    doubles += Number(c[0]!.d);
  }
  return { used, confirmed, doubles };
}

const fix = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const met = (ok: boolean) => (ok ? 'met' : '**not met**');

/** The section's Markdown. */
export function renderCheckout(r: CheckoutBenchResult): string {
  const q = r.quote;
  const p = r.pairs;
  const pairsPerS = p.pairs / p.seconds;
  const claimsPerS = r.claim.ok2xx / r.claim.seconds;
  const helloPerS = r.hello.ok2xx / r.hello.seconds;
  const quotes = q.latency.count;
  const per = (cpu: CpuShare[], name: string, n: number) => fix(((cpu.find((c) => c.name === name)?.cpuS ?? NaN) / n) * 1e6);
  const cores = (cpu: CpuShare[], name: string) => fix(cpu.find((c) => c.name === name)?.cores ?? NaN, 2);
  const names = ['gateway', 'mariadb', 'load generator', 'sink', 'redis', 'whole machine (/proc/stat)'];
  return [
    '## Checkout (issue 13)', '',
    `(a) Quotes: one user holding ${QUOTE_TEMPLATES} coupons (claimed through POST /v1/claim from ${QUOTE_TEMPLATES} templates), ` +
      `${CART_ITEMS}-item carts (${CARTS} distinct), ${q.usable} usable on the first cart, best of ${q.best}; open loop at ` +
      `${int(q.rate)}/s for ${fix(q.seconds)} s over up to ${QUOTE_SOCKETS} sockets: ${int(quotes)} quotes, ` +
      `**p50 ${fix(q.latency.p50, 2)} ms, p99 ${fix(q.latency.p99, 2)} ms, max ${fix(q.latency.max, 2)} ms** ` +
      `(target p99 < 5 ms: ${met(q.latency.p99 < 5)}); latency from each quote's scheduled send; from its actual send p50 ` +
      `${fix(q.fromSend.p50, 2)} ms, p99 ${fix(q.fromSend.p99, 2)} ms; the client fell at most ${fix(q.maxSendLagMs, 2)} ms behind its ` +
      `schedule, its event-loop delay p99 ${fix(q.clientLoopDelay.p99, 2)} ms, max ${fix(q.clientLoopDelay.max, 2)} ms. Statuses: ${JSON.stringify(q.statuses)}.`, '',
    `(b) Lock + confirm pairs, closed loop, ${p.concurrency} at a time, each on a distinct coupon: ${int(p.pairs)} pairs in ` +
      `${fix(p.seconds)} s = **${int(pairsPerS)} pairs/s** (target ≥ 3,000: ${met(pairsPerS >= 3000)}); lock p50 ` +
      `${fix(p.lock.p50, 2)} ms, p99 ${fix(p.lock.p99, 2)} ms; confirm p50 ${fix(p.confirm.p50, 2)} ms, p99 ${fix(p.confirm.p99, 2)} ms.`, '',
    `Same session and stack: claims (autocannon, ${int(r.claim.responses)} responses) **${int(claimsPerS)}/s**, p99 ` +
      `${fix(r.claim.p99Ms, 2)} ms; bare uWS hello ${int(helloPerS)}/s. Ratios: claims ÷ hello ${fix(claimsPerS / helloPerS, 2)}×, ` +
      `pairs ÷ hello ${fix(pairsPerS / helloPerS, 3)}× (calls ÷ hello ${fix((2 * pairsPerS) / helloPerS, 3)}×), ` +
      `pairs ÷ claims ${fix(pairsPerS / claimsPerS, 3)}×.`, '',
    '| process | CPU µs per pair | cores during the pairs | CPU µs per quote | CPU µs per claim | cores during the claims |',
    '|---|---:|---:|---:|---:|---:|',
    ...names.map((n) => `| ${n} | ${per(r.cpuPairs, n, p.pairs)} | ${cores(r.cpuPairs, n)} | ${per(q.cpu, n, quotes)} | ` +
      `${per(r.cpuClaim, n, r.claim.ok2xx)} | ${cores(r.cpuClaim, n)} |`),
    '', `MariaDB per pair during the pairs (SHOW GLOBAL STATUS; other clients of the server count too): ` +
      Object.entries(r.mysqlPairs).map(([k, v]) => `${k} ${fix(v / p.pairs, k.startsWith('Bytes') ? 0 : 2)}`).join(', ') + '.',
    '', `MySQL after the pairs: ${int(r.stored.used)} coupons used, ${int(r.stored.confirmed)} confirmed orders, ` +
      `${r.stored.doubles} coupons confirmed twice.`,
  ].join('\n');
}
