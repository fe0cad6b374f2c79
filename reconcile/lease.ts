/** The reconciler's lease in Redis: one holder at a time, lost by a holder that stops renewing. */
import { ScriptCode } from '../lua/codes.ts';
import type { RedisClient } from '../lua/client.ts';
import { type KeySpace, reconcileLeaseKey } from '../lua/keys.ts';

export class Lease {
  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace,
    readonly owner: string, private readonly ttlMs: number) {}

  /** Takes or renews the lease; the other holder's name when someone else has it. */
  async take(): Promise<{ ok: true } | { ok: false; holder: string }> {
    const [code, holder] = await this.redis.leaseTake(reconcileLeaseKey(this.ks), this.owner, this.ttlMs);
    return code === ScriptCode.Leased ? { ok: true } : { ok: false, holder: String(holder) };
  }

  /** Gives the lease back if this owner still holds it. */
  async drop(): Promise<void> {
    await this.redis.leaseDrop(reconcileLeaseKey(this.ks), this.owner);
  }
}
