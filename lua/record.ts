/**
 * The issuance records that the claim scripts XADD (field `d`, msgpack array packed by Redis's
 * cmsgpack) and the sink decodes. Three shapes share a stream:
 * - version 2 (lua/includes/issue.lua): ONE entry for every record of one template in one script
 *   call (a claim-home call of several templates writes one per template segment), which share
 *   their template, claim time and home partition:
 *   [2, templateId, claimedAtMs, homePartition, couponId, userId, requestId, couponId, ...]
 * - version 3, the same for a red packet, with each record's drawn amount in cents:
 *   [3, templateId, claimedAtMs, homePartition, couponId, userId, requestId, amount, couponId, ...].
 *   Also the shape of a single red-packet record in the dead letters.
 * - version 1, one record per entry: [1, couponId, templateId, userId, requestId, claimedAtMs,
 *   homePartition]. Written before group commit (still in a stream after an upgrade), and the
 *   shape of a single record in the dead letters (the sink sets records aside one by one).
 * An entry decodes to its records, or to why it is poison (the sink dead-letters those).
 */
import { Packr, Unpackr } from 'msgpackr';

/** Stream field that holds the packed records. */
export const RECORD_FIELD = 'd';

// cmsgpack writes the millisecond timestamp as uint64; it is far below 2^53, so read a number.
const unpackr = new Unpackr({ int64AsType: 'number' });
const packr = new Packr({ useRecords: false });

export interface IssuanceRecord {
  readonly couponId: string;
  readonly templateId: string;
  readonly userId: string;
  /** The client's request id, or a gateway-generated one starting with `~`. */
  readonly requestId: string;
  readonly claimedAtMs: number;
  /** Partition that holds the user's entry (where a reservation, if any, was made). */
  readonly homePartition: number;
  /** A red packet's drawn amount in cents (version 3); null for other coupons. */
  readonly amount: number | null;
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isNum = (x: unknown): x is number => typeof x === 'number';

/** Decodes the records of one packed value; throws a descriptive error on anything else. */
export function decodeRecords(buf: Uint8Array): IssuanceRecord[] {
  const a: unknown = unpackr.unpack(buf);
  if (!Array.isArray(a)) throw new Error('not an issuance record');
  if (a[0] === 1) {
    const [, couponId, templateId, userId, requestId, claimedAtMs, homePartition] = a;
    if (a.length !== 7) throw new Error('v1 issuance record must have 7 fields');
    if (!isStr(couponId) || !isStr(templateId) || !isStr(userId) || !isStr(requestId) || !isNum(claimedAtMs) ||
      !isNum(homePartition)) {
      throw new Error('issuance record has a field of the wrong type');
    }
    return [{ couponId, templateId, userId, requestId, claimedAtMs, homePartition, amount: null }];
  }
  if (a[0] === 2 || a[0] === 3) return decodeGroup(a, a[0] === 3 ? 4 : 3);
  throw new Error('not a v1, v2 or v3 issuance record');
}

const isAmount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** The records of a version 2 (3 fields each) or version 3 (4: with the amount) entry. */
function decodeGroup(a: unknown[], per: 3 | 4): IssuanceRecord[] {
  const [version, templateId, claimedAtMs, homePartition] = a;
  if (a.length < 4 + per || (a.length - 4) % per !== 0) throw new Error(`v${version} issuance entry must hold whole records`);
  if (!isStr(templateId) || !isNum(claimedAtMs) || !isNum(homePartition)) throw new Error('issuance entry has a field of the wrong type');
  const out: IssuanceRecord[] = [];
  for (let i = 4; i < a.length; i += per) {
    const couponId: unknown = a[i], userId: unknown = a[i + 1], requestId: unknown = a[i + 2];
    if (!isStr(couponId) || !isStr(userId) || !isStr(requestId)) throw new Error('issuance record has a field of the wrong type');
    const amount: unknown = per === 4 ? a[i + 3] : null;
    if (amount !== null && !isAmount(amount)) throw new Error('red-packet amount must be a whole number of cents');
    out.push({ couponId, templateId, userId, requestId, claimedAtMs, homePartition, amount });
  }
  return out;
}

/** One record packed alone (version 1, version 3 for a red packet): how the sink sets a single record aside. */
export function packRecord(r: IssuanceRecord): Buffer {
  if (r.amount !== null) {
    return packr.pack([3, r.templateId, r.claimedAtMs, r.homePartition, r.couponId, r.userId, r.requestId, r.amount]);
  }
  return packr.pack([1, r.couponId, r.templateId, r.userId, r.requestId, r.claimedAtMs, r.homePartition]);
}

/** A claim script's answer for an issued coupon: the coupon id, then ':<amount>' for a red packet. */
export interface IssuedAnswer {
  readonly couponId: string;
  readonly amount: number | null;
}

/** Splits a stored or returned answer (coupon ids never contain ':'). */
export function parseAnswer(answer: string): IssuedAnswer {
  const i = answer.indexOf(':');
  return i < 0 ? { couponId: answer, amount: null } : { couponId: answer.slice(0, i), amount: Number(answer.slice(i + 1)) };
}

/** The answer string of a coupon as the claim scripts store it for replays. */
export const answerOf = (couponId: string, amount: number | null): string => (amount === null ? couponId : `${couponId}:${amount}`);

/** One stream entry as read: `fields` is the flat [name, value, ...] list, null if deleted. */
export interface StreamEntry {
  readonly partition: number;
  readonly id: string;
  readonly fields: readonly Buffer[] | null;
}

/** Either the decoded records (with their packed bytes) or why the entry is poison. */
export type Decoded =
  | { readonly ok: true; readonly records: readonly IssuanceRecord[]; readonly raw: Buffer }
  | { readonly ok: false; readonly error: string };

/** Decodes the records of an entry; never throws (a bad entry must go to the dead letters). */
export function decodeEntry(entry: StreamEntry): Decoded {
  if (entry.fields === null) return { ok: false, error: 'entry was deleted from the stream before it was written' };
  let raw: Buffer | undefined;
  for (let i = 0; i + 1 < entry.fields.length; i += 2) {
    if (entry.fields[i]!.toString() === RECORD_FIELD) raw = entry.fields[i + 1];
  }
  if (raw === undefined) return { ok: false, error: `entry has no field "${RECORD_FIELD}"` };
  try {
    return { ok: true, records: decodeRecords(raw), raw };
  } catch (err) {
    return { ok: false, error: `undecodable record: ${err instanceof Error ? err.message : String(err)}` };
  }
}
