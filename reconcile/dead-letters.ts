/**
 * The dead-letter streams, as reconciliation sees them: records issued but never stored. Those
 * set aside only because their template row was missing are re-driven into their stream once
 * the row exists; the rest wait for a person, and the other steps count them as issued.
 */
import { deadKey, streamKey } from '../lua/keys.ts';
import { RECORD_FIELD } from '../lua/record.ts';
import { deadEntries } from '../lua/drain.ts';
import type { ReconcileCtx } from './context.ts';

const TEMPLATE_MISSING = /has no row in coupon_template/;

export interface DeadLetters {
  /** Dead-lettered records per template (before any re-drive). */
  readonly byTemplate: Map<string, number>;
  /** `<template>|<user>|<request>` of every dead-lettered record. */
  readonly requests: Set<string>;
  /** Entries whose template row now exists: re-drivable. */
  readonly redrivable: { partition: number; id: string; raw: Buffer }[];
}

/** Reads every dead-letter stream. */
export async function readDeadLetters(c: ReconcileCtx): Promise<DeadLetters> {
  const out: DeadLetters = { byTemplate: new Map(), requests: new Set(), redrivable: [] };
  const known = new Map<string, boolean>();
  const partitions = Array.from({ length: c.ks.partitions }, (_, p) => p);
  for await (const { partition, id, fields, decoded: d } of deadEntries(c.redis, c.ks, partitions)) {
    if (!d.ok) continue;
    for (const r of d.records) {
      out.byTemplate.set(r.templateId, (out.byTemplate.get(r.templateId) ?? 0) + 1);
      out.requests.add(`${r.templateId}|${r.userId}|${r.requestId}`);
    }
    if (!TEMPLATE_MISSING.test(fieldOf(fields, 'error'))) continue;
    // the records of one entry share their template (lua/record.ts).
    const templateId = d.records[0]!.templateId;
    if (!known.has(templateId)) known.set(templateId, (await c.store.get(templateId)) !== null);
    if (known.get(templateId)) out.redrivable.push({ partition, id, raw: d.raw });
  }
  return out;
}

function fieldOf(fields: Buffer[] | null, name: string): string {
  for (let i = 0; fields && i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1]!.toString();
  return '';
}

/** Puts re-drivable records back into their stream (one MULTI per record: both keys share the partition's tag). */
export async function redrive(c: ReconcileCtx, dead: DeadLetters): Promise<number> {
  let n = 0;
  for (const e of dead.redrivable) {
    const res = await c.redis.multi().xadd(streamKey(c.ks, e.partition), '*', RECORD_FIELD, e.raw).xdel(deadKey(c.ks, e.partition), e.id).exec();
    if (res && !res.some(([err]) => err)) n++;
  }
  return n;
}
