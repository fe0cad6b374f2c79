/**
 * Batch number -> batch (its template and count), for redemptions: a code names its batch by
 * number (redemption/code-mac.ts). Batches never change once created, so an entry never goes
 * stale; a miss is one indexed MySQL read, shared by the redemptions waiting for it. Only codes
 * whose MAC passed get here, so the numbers looked up are real ones and no unknown number needs
 * remembering. At most `max` entries, the least recently used forgotten first.
 */
import type { CodeBatch } from '../../redemption/batches.ts';

export class BatchCache {
  private readonly entries = new Map<number, CodeBatch>();
  private readonly loading = new Map<number, Promise<CodeBatch | undefined>>();

  constructor(private readonly load: (batchNo: number) => Promise<CodeBatch | undefined>, private readonly max: number) {}

  /** The batch of this number, or undefined when there is none. */
  async get(batchNo: number): Promise<CodeBatch | undefined> {
    const hit = this.entries.get(batchNo);
    if (hit) {
      this.entries.delete(batchNo);
      this.entries.set(batchNo, hit);
      return hit;
    }
    let p = this.loading.get(batchNo);
    if (!p) {
      p = this.load(batchNo).finally(() => this.loading.delete(batchNo));
      this.loading.set(batchNo, p);
    }
    const batch = await p;
    if (batch && !this.entries.has(batchNo)) {
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(batchNo, batch);
    }
    return batch;
  }
}
