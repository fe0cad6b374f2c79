/**
 * Micro-benchmarks of the claim hot path (tinybench): codec, validation, admission, key and
 * shard computations. Each task call runs its step over 64 different inputs, so timer resolution
 * and constant folding do not decide the figure; results are per step.
 */
import { Bench } from 'tinybench';
import { Admission, TokenBucket } from '../gateway/admission.ts';
import { decodeBody, encodeBody, type Format } from '../gateway/http/codec.ts';
import { parseClaim } from '../gateway/routes/claim.ts';
import { ClaimCounter } from '../gateway/stats/counter.ts';
import * as keys from '../lua/keys.ts';
import { couponIdPrefix, hash32 } from '../core/shards.ts';
import type { BenchOptions } from './options.ts';

export interface MicroRow {
  readonly name: string;
  readonly opsPerS: number;
  readonly meanNs: number;
  /** Relative margin of error of the mean, in percent. */
  readonly rme: number;
}

export interface MicroResult {
  readonly rows: MicroRow[];
  /** Name of the row the report divides by (the JSON codec). */
  readonly reference: string;
}

const BATCH = 64;
const TEMPLATE = 't_AbCdEfGhIjKl';
const ks: keys.KeySpace = { prefix: 'cg', partitions: 16 };
const layout = { dbs: 2, tables: 4 };
const users = Array.from({ length: BATCH }, (_, i) => `user-${1_000_000 + i * 7919}`);
const claims = users.map((userId) => ({ userId, templateId: TEMPLATE }));
const answers = users.map((userId, i) => ({ status: 'issued', couponId: `1.2.3.${1732233600000000 + i}`, templateId: TEMPLATE, userId }));
const bodies = (f: Format) => claims.map((c) => {
  const e = encodeBody(c, f);
  return typeof e === 'string' ? Buffer.from(e) : e;
});
const jsonBodies = bodies('json');
const msgpackBodies = bodies('msgpack');

// Results go here so the optimiser cannot drop the work.
let blackhole: unknown;

function codec(format: Format, input: Buffer[]): () => void {
  return () => {
    for (let i = 0; i < BATCH; i++) {
      blackhole = decodeBody(input[i]!, format);
      blackhole = encodeBody(answers[i], format);
    }
  };
}

/** Runs section 3. */
export async function runMicro(o: BenchOptions): Promise<MicroResult> {
  const bench = new Bench({ time: o.microMs, warmupTime: Math.min(100, o.microMs) });
  const bucket = new TokenBucket(1e12, 1e12, 0);
  const admission = new Admission({ globalRps: 1e12, globalBurst: 1e12, templateRps: 1e12, templateBurst: 1e12 }, 0);
  const counter = new ClaimCounter();
  const issuedAnswer = { status: 200, body: answers[0]! };
  let now = 0;
  const jsonName = 'codec JSON: decode claim body + encode answer';
  bench
    .add(jsonName, codec('json', jsonBodies))
    .add('codec msgpackr: decode claim body + encode answer', codec('msgpack', msgpackBodies))
    .add('parseClaim (validate a decoded body)', () => {
      for (let i = 0; i < BATCH; i++) blackhole = parseClaim(claims[i]!);
    })
    .add('TokenBucket.take', () => {
      for (let i = 0; i < BATCH; i++) blackhole = bucket.take(now += 0.01);
    })
    .add('Admission: admitGlobal + admitTemplate', () => {
      for (let i = 0; i < BATCH; i++) blackhole = admission.admitGlobal(now += 0.01) && admission.admitTemplate(TEMPLATE, now);
    })
    .add('ClaimCounter.answered (per-claim stats count)', () => {
      for (let i = 0; i < BATCH; i++) counter.answered(TEMPLATE, issuedAnswer);
    })
    .add('hash32(userId)', () => {
      for (let i = 0; i < BATCH; i++) blackhole = hash32(users[i]!);
    })
    .add('claim keys: home sub-stock, partition, 5 key names', () => {
      for (let i = 0; i < BATCH; i++) {
        const home = keys.homeSubStock(TEMPLATE, users[i]!, 16);
        const p = keys.subStockPartition(ks, TEMPLATE, home);
        blackhole = [keys.stockKey(ks, TEMPLATE, home), keys.usersKey(ks, p, TEMPLATE), keys.pendingKey(ks, p),
          keys.seqKey(ks, p), keys.streamKey(ks, p)];
      }
    })
    .add('couponIdPrefix (user -> shard db.table)', () => {
      for (let i = 0; i < BATCH; i++) blackhole = couponIdPrefix(layout, users[i]!);
    });
  await bench.run();
  const rows: MicroRow[] = bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro ${t.name}: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
    // latency is in ms per task call; a call is BATCH steps.
    const meanNs = (r.latency.mean * 1e6) / BATCH;
    return { name: t.name, opsPerS: 1e9 / meanNs, meanNs, rme: r.latency.rme };
  });
  void blackhole;
  return { rows, reference: jsonName };
}
