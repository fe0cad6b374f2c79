/**
 * The dead-letter streams, as reconciliation sees them: records issued but never stored. Those
 * set aside only because their template row was missing are re-driven into their stream once
 * the row exists; the rest wait for a person, and the other steps count them as issued.
 */
import { deadKey, streamKey } from '../../lua/keys.ts';
import { RECORD_FIELD } from '../../lua/record.ts';
import { decodeEntry } from '../consumer.ts';
import type { ReconcileCtx } from './context.ts';

const PAGE = 1000;
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
  for (let p = 0; p < c.ks.partitions; p++) {
    for (let start = '-'; ;) {
      const page = await c.redis.xrangeBuffer(deadKey(c.ks, p), start, '+', 'COUNT', PAGE);
      for (const [idBuf, fields] of page) {
        const id = idBuf.toString();
        const d = decodeEntry({ partition: p, id, fields });
        if (!d.ok) continue;
        const r = d.record;
        out.byTemplate.set(r.templateId, (out.byTemplate.get(r.templateId) ?? 0) + 1);
        out.requests.add(`${r.templateId}|${r.userId}|${r.requestId}`);
        const error = fieldOf(fields, 'error');
        if (!TEMPLATE_MISSING.test(error)) continue;
        if (!known.has(r.templateId)) known.set(r.templateId, (await c.store.get(r.templateId)) !== null);
        if (known.get(r.templateId)) out.redrivable.push({ partition: p, id, raw: d.raw });
      }
      if (page.length < PAGE) break;
      start = `(${page[page.length - 1]![0].toString()}`;
    }
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
