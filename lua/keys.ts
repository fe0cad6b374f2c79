/**
 * Every Redis key of the product, built here and nowhere else.
 *
 * Partition keys carry the hash tag `{p}`: every Lua call touches keys of one partition only,
 * so the same scripts run on one Redis and on Redis Cluster (brief, section 5). Template k's
 * sub-stock lives in partition (hash(templateId) + k) mod P; a user's home sub-stock for a
 * template is hash(templateId|userId) mod K, and the home partition holds the user's entry.
 */
import { fnvFrom, hash32, hashPrefix, mix32 } from '../core/shards.ts';

export interface KeySpace {
  readonly prefix: string;
  readonly partitions: number;
}

/** Partition of sub-stock k of a template. */
export function subStockPartition(ks: KeySpace, templateId: string, k: number): number {
  return partitionAt(ks, hash32(templateId), k);
}

/** Partition of sub-stock k of the template whose hash32 is `templateHash` (computed once per template). */
export const partitionAt = (ks: KeySpace, templateHash: number, k: number): number => (templateHash + k) % ks.partitions;

/** The user's home sub-stock index for a template with `subStocks` sub-stocks. */
export function homeSubStock(templateId: string, userId: string, subStocks: number): number {
  return homeSubStockAt(homePrefix(templateId), userId, subStocks);
}

/** The hash state of a template's home sub-stock prefix, computed once per template for homeSubStockAt. */
export const homePrefix = (templateId: string): number => hashPrefix(`${templateId}|`);

/** homeSubStock, from the template's homePrefix. */
export const homeSubStockAt = (prefix: number, userId: string, subStocks: number): number => mix32(fnvFrom(prefix, userId)) % subStocks;

const tag = (ks: KeySpace, p: number) => `${ks.prefix}:{${p}}`;

/** Remaining count of sub-stock k (integer string). */
export const stockKey = (ks: KeySpace, templateId: string, k: number) => stockKeyAt(ks, subStockPartition(ks, templateId, k), templateId, k);

/** stockKey, when the caller knows the sub-stock's partition p (the claim path: no hash per call). */
export const stockKeyAt = (ks: KeySpace, p: number, templateId: string, k: number) => `${tag(ks, p)}:stock:${templateId}:${k}`;

/**
 * Redemption codes of sub-stock k, the one a code's number picks (lua/code-take-6.lua): hash of
 * code number -> '<user>|<couponId>' (redeemed) or '|<user>|<token>' (held by that reservation
 * while it takes its coupon from another sub-stock). The mark shares a slot with the stock, so
 * one script checks it and either takes from this sub-stock or holds the code.
 */
export const codeMarksKey = (ks: KeySpace, templateId: string, k: number) =>
  `${tag(ks, subStockPartition(ks, templateId, k))}:codes:${templateId}:${k}`;

/**
 * Codes held in partition p (lua/code-take-6.lua): zset of '<template>|<code>|<user>|<token>' by
 * ms, so the reconciler finds the holds a dead gateway left (reconcile/code-holds.ts).
 */
export const codeHoldsKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:code-holds`;

/**
 * Red packet: cents left to share out over sub-stock k's packets (integer string); beside its
 * stock key, so a claim draws an amount atomically with the decrement (lua/includes/packet.lua).
 */
export const budgetKey = (ks: KeySpace, templateId: string, k: number) =>
  budgetKeyAt(ks, subStockPartition(ks, templateId, k), templateId, k);

/** budgetKey, when the caller knows the sub-stock's partition p. */
export const budgetKeyAt = (ks: KeySpace, p: number, templateId: string, k: number) => `${tag(ks, p)}:budget:${templateId}:${k}`;

/** Operator stock changes applied to sub-stock k: hash of request id -> amount (lua/stock-change-3.lua). */
export const stockChangesKey = (ks: KeySpace, templateId: string, k: number) =>
  `${tag(ks, subStockPartition(ks, templateId, k))}:stock-changes:${templateId}:${k}`;

/** When each of those changes was applied: zset of request id by ms, to forget old ones. */
export const stockChangesAtKey = (ks: KeySpace, templateId: string, k: number) =>
  `${tag(ks, subStockPartition(ks, templateId, k))}:stock-changes-at:${templateId}:${k}`;

/** Sub-stock k set aside by a rebuild (lua/stock-freeze-2.lua): same slot, claims cannot see it. */
export const frozenStockKey = (ks: KeySpace, templateId: string, k: number) =>
  `${tag(ks, subStockPartition(ks, templateId, k))}:frozen:${templateId}:${k}`;

/** Per-template user hash in partition p: `<user>` claim count, `<user>#p` pending, `<user>|<rid>` result. */
export const usersKey = (ks: KeySpace, p: number, templateId: string) => `${tag(ks, p)}:users:${templateId}`;

/** A rebuild's new users hash of partition p, swapped in by lua/users-swap-3.lua. */
export const rebuiltUsersKey = (ks: KeySpace, p: number, templateId: string) => `${tag(ks, p)}:rebuild:users:${templateId}`;

/** Reservations awaiting settle in partition p: zset of `<template>|<user>|<rid>` scored by ms. */
export const pendingKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:pending`;

/**
 * Reservations the reconciler released, in partition p: zset of `<template>|<user>|<rid>|<token>`
 * by ms. Written to every partition of the template before the release, read by claim-take.
 */
export const releasedKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:released`;

/** Coupon sequence of partition p. */
export const seqKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:seq`;

/** Issuance record stream of partition p. */
export const streamKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:stream`;

/** Records the sink could not decode, kept for a person to inspect (never dropped silently). */
export const deadKey = (ks: KeySpace, p: number) => `${tag(ks, p)}:dead`;

/** The live copy of a template: hash of `version` and `data` (JSON); its own slot. */
export const templateKey = (ks: KeySpace, templateId: string) => `${ks.prefix}:template:${templateId}`;

/** Pub/sub channel on which every template change is announced to the gateways. */
export const templateChannel = (ks: KeySpace) => `${ks.prefix}:templates`;

// Claim statistics of a template share the tag {stats:<id>}: one slot per template, apart from
// its stock partitions, so the flush script of one template touches one slot.
const statsTag = (ks: KeySpace, templateId: string) => `${ks.prefix}:{stats:${templateId}}`;

/** Claim rejections of a template since it was created: hash of reason -> count. */
export const statsTotalsKey = (ks: KeySpace, templateId: string) => `${statsTag(ks, templateId)}:totals`;

/** Claims (`c`) and issued coupons (`i`) of a template in one epoch second; expires. */
export const statsSecondKey = (ks: KeySpace, templateId: string, second: number) =>
  `${statsTag(ks, templateId)}:sec:${second}`;

/** Last stats batch sequence of one gateway process applied for a template (resends are no-ops). */
export const statsAppliedKey = (ks: KeySpace, templateId: string, gatewayId: string) =>
  `${statsTag(ks, templateId)}:applied:${gatewayId}`;

/** The reconciler's lease: the name of the one process running it (expires if it dies). */
export const reconcileLeaseKey = (ks: KeySpace) => `${ks.prefix}:reconcile:lease`;

/**
 * The run ids of the Redis masters whose losses are repaired (joined by ','): written by the
 * reconciler after it repaired a restart, and on the first start of a key space. A master whose
 * run id is not in it restarted since: the claim scripts stay off it (lua/fenced.ts).
 */
export const reconcileRunKey = (ks: KeySpace) => `${ks.prefix}:reconcile:run`;

/** Layout facts fixed for the life of the data (partition count). */
export const metaKey = (ks: KeySpace) => `${ks.prefix}:meta`;

/** All stream keys, one per partition. */
export function allStreamKeys(ks: KeySpace): string[] {
  return Array.from({ length: ks.partitions }, (_, p) => streamKey(ks, p));
}

/** The cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key without one, mod 16384. */
export function keySlot(key: string): number {
  let s = key.indexOf('{');
  let e = s < 0 ? -1 : key.indexOf('}', s + 1);
  if (s < 0 || e === s + 1 || e < 0) {
    s = -1;
    e = key.length;
  }
  const bytes = Buffer.from(key.slice(s + 1, e));
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
