/**
 * The issuance record that the claim scripts XADD (field `d`, msgpack array packed by Redis's
 * cmsgpack) and the sink decodes. Positional array: [version, couponId, templateId, userId,
 * requestId, claimedAtMs, homePartition]. Bump the version when the shape changes. A stream entry
 * decodes to one record, or to why it is poison (the sink dead-letters those).
 */
import { Unpackr } from 'msgpackr';

export const RECORD_VERSION = 1;
/** Stream field that holds the packed record. */
export const RECORD_FIELD = 'd';

// cmsgpack writes the millisecond timestamp as uint64; it is far below 2^53, so read a number.
const unpackr = new Unpackr({ int64AsType: 'number' });

export interface IssuanceRecord {
  readonly couponId: string;
  readonly templateId: string;
  readonly userId: string;
  /** The client's request id, or a gateway-generated one starting with `~`. */
  readonly requestId: string;
  readonly claimedAtMs: number;
  /** Partition that holds the user's entry (where a reservation, if any, was made). */
  readonly homePartition: number;
}

/** Decodes one record; throws a descriptive error on anything that is not a valid v1 record. */
export function decodeRecord(buf: Uint8Array): IssuanceRecord {
  const a: unknown = unpackr.unpack(buf);
  if (!Array.isArray(a) || a.length !== 7 || a[0] !== RECORD_VERSION) {
    throw new Error(`not a v${RECORD_VERSION} issuance record`);
  }
  const [, couponId, templateId, userId, requestId, claimedAtMs, homePartition] = a;
  if (typeof couponId !== 'string' || typeof templateId !== 'string' || typeof userId !== 'string' ||
    typeof requestId !== 'string' || typeof claimedAtMs !== 'number' || typeof homePartition !== 'number') {
    throw new Error('issuance record has a field of the wrong type');
  }
  return { couponId, templateId, userId, requestId, claimedAtMs, homePartition };
}

/** One stream entry as read: `fields` is the flat [name, value, ...] list, null if deleted. */
export interface StreamEntry {
  readonly partition: number;
  readonly id: string;
  readonly fields: readonly Buffer[] | null;
}

/** Either the decoded record (with its packed bytes) or why the entry is poison. */
export type Decoded =
  | { readonly ok: true; readonly record: IssuanceRecord; readonly raw: Buffer }
  | { readonly ok: false; readonly error: string };

/** Decodes the record of an entry; never throws (a bad entry must go to the dead letters). */
export function decodeEntry(entry: StreamEntry): Decoded {
  if (entry.fields === null) return { ok: false, error: 'entry was deleted from the stream before it was written' };
  let raw: Buffer | undefined;
  for (let i = 0; i + 1 < entry.fields.length; i += 2) {
    if (entry.fields[i]!.toString() === RECORD_FIELD) raw = entry.fields[i + 1];
  }
  if (raw === undefined) return { ok: false, error: `entry has no field "${RECORD_FIELD}"` };
  try {
    return { ok: true, record: decodeRecord(raw), raw };
  } catch (err) {
    return { ok: false, error: `undecodable record: ${err instanceof Error ? err.message : String(err)}` };
  }
}
