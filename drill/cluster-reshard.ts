/**
 * Moves chosen slots from one master to another while claims run, by the steps `redis-cli
 * --cluster reshard` takes for each slot (IMPORTING, MIGRATING, MIGRATE its keys, SETSLOT NODE
 * everywhere), but for the slots the drill names (those of its sub-stocks; reshard would take the
 * source's lowest slots) and a key at a time with a pause in between: a claim's partition stays
 * half moved for a while, so claims meet ASK and TRYAGAIN, not only MOVED.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClusterNode, onNode } from './cluster-nodes.ts';

// Keys per MIGRATE and the pause after each: a partition of the drill has a few dozen keys.
const KEYS_PER_MIGRATE = 1;
const PAUSE_MS = 25;
const MIGRATE_TIMEOUT_MS = 5_000;

/** What a move did. */
export interface MoveResult {
  readonly slots: readonly number[];
  readonly keys: number;
  readonly ms: number;
}

/** Moves `slots` from master `from` to master `to`; `masters` are told the new owner (every master, both included). */
export async function moveSlots(from: ClusterNode, to: ClusterNode, masters: readonly ClusterNode[], slots: readonly number[]): Promise<MoveResult> {
  const started = Date.now();
  let keys = 0;
  for (const slot of slots) {
    await onNode(to.port, (r) => r.cluster('SETSLOT', slot, 'IMPORTING', from.id));
    await onNode(from.port, (r) => r.cluster('SETSLOT', slot, 'MIGRATING', to.id));
    await onNode(from.port, async (r) => {
      for (;;) {
        const batch = await r.cluster('GETKEYSINSLOT', slot, KEYS_PER_MIGRATE) as string[];
        if (batch.length === 0) return;
        await r.migrate('127.0.0.1', to.port, '', 0, MIGRATE_TIMEOUT_MS, 'KEYS', ...batch);
        keys += batch.length;
        await sleep(PAUSE_MS);
      }
    });
    // the target first: once the source gives the slot up, the target must already own it.
    for (const m of [to, from, ...masters.filter((n) => n.id !== to.id && n.id !== from.id)]) {
      await onNode(m.port, (r) => r.cluster('SETSLOT', slot, 'NODE', to.id));
    }
  }
  return { slots, keys, ms: Date.now() - started };
}
