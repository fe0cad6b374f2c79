/** The reconciler's lease in Redis: one holder at a time, lost by a holder that stops renewing. */
import { ScriptCode } from '../lua/codes.ts';
import type { RedisClient } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import type { KeySpace } from '../lua/keys.ts';

export class Lease {
  private readonly commands: Commands;

  constructor(redis: RedisClient, ks: KeySpace, readonly owner: string, private readonly ttlMs: number) {
    this.commands = new Commands(redis, ks);
  }

  /** Takes or renews the lease; the other holder's name when someone else has it. */
  async take(): Promise<{ ok: true } | { ok: false; holder: string }> {
    const [code, holder] = await this.commands.leaseTake(this.owner, this.ttlMs);
    return code === ScriptCode.Leased ? { ok: true } : { ok: false, holder: String(holder) };
  }

  /** Gives the lease back if this owner still holds it. */
  async drop(): Promise<void> {
    await this.commands.leaseDrop(this.owner);
  }
}
