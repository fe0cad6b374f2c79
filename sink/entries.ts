/**
 * Stream entries the sink holds, record by record. One entry carries every record of one
 * template in one claim script call (lua/record.ts), and its records may go to different shard
 * tables and batches:
 * the entry is acknowledged only when each of its records is written or set aside, and a
 * record that cannot be finished now (its template row is missing, its batch failed) keeps the
 * whole entry pending, to come back through a reclaim (rows are idempotent).
 */
import type { IssuanceRecord } from '../lua/record.ts';

/** A record that can never be stored, and why: it goes to the dead letters with the entry's ack. */
export interface Poison {
  readonly item: Item;
  readonly error: string;
}

/** One record of an open entry. */
export interface Item {
  readonly entry: OpenEntry;
  readonly record: IssuanceRecord;
  /** The entry's packed bytes when it holds this record alone, kept as they are in the dead letters. */
  readonly raw?: Buffer;
}

/** How a record of an entry ended in this round. */
export type Outcome = { readonly written: true } | { readonly poison: string } | { readonly keep: true };

export const WRITTEN: Outcome = { written: true };
export const KEEP: Outcome = { keep: true };

/** The key that names an entry in the sink's set of held entries. */
export const entryKey = (partition: number, id: string) => `${partition}/${id}`;

/** An entry read from partition `partition`'s stream and not yet finished. */
export class OpenEntry {
  private left: number;
  /** Its records that can never be stored. */
  readonly poison: Poison[] = [];
  /** True when a record was not finished: no ack, no dead letter; the entry stays pending. */
  kept = false;

  constructor(readonly partition: number, readonly id: string, records: number) {
    this.left = records;
  }

  /** The held-set key of this entry. */
  get key(): string {
    return entryKey(this.partition, this.id);
  }

  /** Settles one record; true when it was the entry's last. */
  settle(item: Item, outcome: Outcome): boolean {
    if ('poison' in outcome) this.poison.push({ item, error: outcome.poison });
    else if ('keep' in outcome) this.kept = true;
    return --this.left === 0;
  }
}
