/**
 * MySQL routing: N databases x M tables, by user (brief, section 2):
 * db = hash(userId) / M % N, table = hash(userId) % M. A coupon id starts with "<db>.<table>."
 * so the id alone finds its row. The gateway imports this to mint ids; the sink to route rows.
 */

/**
 * 32-bit FNV-1a over the UTF-16 code units (ids are ASCII, so the byte hash), finished with
 * murmur3's fmix32: FNV's low bits depend only on the input's low bits, and both the shard
 * (hash % M) and the home sub-stock (hash % K) take low bits, which would tie one to the other.
 */
export function hash32(s: string): number {
  return mix32(fnvFrom(FNV_START, s));
}

const FNV_START = 0x811c9dc5;

/**
 * The FNV-1a state after hashing `s` from state `h`: hash32(a + b) = mix32(fnvFrom(fnvFrom(start, a), b)),
 * so a hot path can hash a fixed prefix once (hashPrefix) and only the rest per call.
 */
export function fnvFrom(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** The state of hash32 after the prefix `s`, for fnvFrom. */
export const hashPrefix = (s: string): number => fnvFrom(FNV_START, s);

/** Finishes an FNV-1a state into hash32's value (murmur3's fmix32). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface ShardLayout {
  readonly dbs: number;
  readonly tables: number;
}

export interface Shard {
  readonly db: number;
  readonly table: number;
}

/** Which database and table hold this user's coupons. */
export function shardOfUser(layout: ShardLayout, userId: string): Shard {
  const h = hash32(userId);
  return { db: Math.floor(h / layout.tables) % layout.dbs, table: h % layout.tables };
}

// "<db>.<table>" of every shard of a layout, by hash32(user) % (dbs * tables): built once.
const prefixes = new WeakMap<ShardLayout, string[]>();

/** The "<db>.<table>" prefix a coupon id for this user starts with. */
export function couponIdPrefix(layout: ShardLayout, userId: string): string {
  let list = prefixes.get(layout);
  if (!list) {
    list = Array.from({ length: layout.dbs * layout.tables }, (_, i) => `${Math.floor(i / layout.tables) % layout.dbs}.${i % layout.tables}`);
    prefixes.set(layout, list);
  }
  return list[hash32(userId) % (layout.dbs * layout.tables)]!;
}

/** Reads the shard back out of a coupon id; undefined when the id is not one of ours. */
export function shardOfCoupon(layout: ShardLayout, couponId: string): Shard | undefined {
  const m = /^(\d{1,4})\.(\d{1,4})\.\d{1,4}\.\d{1,20}$/.exec(couponId);
  if (!m) return undefined;
  const db = Number(m[1]);
  const table = Number(m[2]);
  if (db >= layout.dbs || table >= layout.tables) return undefined;
  return { db, table };
}

/** Database name of shard database `db`. */
export function shardDbName(dbPrefix: string, db: number): string {
  return `${dbPrefix}_${db}`;
}

/** Table name of shard table `table` (the same in every shard database). */
export function shardTableName(table: number): string {
  return `user_coupon_${table}`;
}

/** Database that holds templates and other unsharded tables. */
export function mainDbName(dbPrefix: string): string {
  return `${dbPrefix}_main`;
}

/** Every user-coupon table of the layout: its database and table index and its qualified name. */
export function shardTables(dbPrefix: string, layout: ShardLayout): { db: number; table: number; name: string }[] {
  const out: { db: number; table: number; name: string }[] = [];
  for (let db = 0; db < layout.dbs; db++) {
    for (let table = 0; table < layout.tables; table++) {
      out.push({ db, table, name: `\`${shardDbName(dbPrefix, db)}\`.\`${shardTableName(table)}\`` });
    }
  }
  return out;
}
