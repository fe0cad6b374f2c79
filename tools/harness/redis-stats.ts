/**
 * Redis INFO commandstats deltas over a run: which commands (and how many per claim) the
 * gateway and the sink send, to explain Redis's CPU per claim.
 */
import type { RedisClient } from '../../lua/client.ts';

export interface CommandDelta {
  readonly command: string;
  readonly calls: number;
  /** Microseconds Redis spent executing the command (inner commands of scripts count twice). */
  readonly usec: number;
}

async function snapshot(redis: RedisClient): Promise<Map<string, { calls: number; usec: number }>> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Takes a snapshot now; `finish()` returns the commands called since, most expensive first. */
export async function commandMeter(redis: RedisClient): Promise<{ finish(): Promise<CommandDelta[]> }> {
  const before = await snapshot(redis);
  return {
    finish: async () => {
      const after = await snapshot(redis);
      const out: CommandDelta[] = [];
      for (const [command, a] of after) {
        const b = before.get(command) ?? { calls: 0, usec: 0 };
        // the meter's own INFO calls are not the product's.
        if (a.calls > b.calls && command !== 'info') out.push({ command, calls: a.calls - b.calls, usec: a.usec - b.usec });
      }
      return out.sort((x, y) => y.usec - x.usec);
    },
  };
}
