/**
 * Bulk grant jobs inside the sink process that holds the work lease (reconcile/lease.ts, the
 * reconciler's): every GRANT_POLL_MS it renews the lease and starts a runner (grant-runner.ts)
 * for each running job that has none. Losing the lease stops the runners after their chunk in
 * hand; whichever process holds it next resumes each job from its cursor in MySQL. A sink
 * restarted under the same consumer name (SINK_CONSUMER) takes the lease back at once; another
 * waits for it to expire (RECONCILE_LEASE_MS).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from './log.ts';
import type { Config } from '../config/index.ts';
import type { MysqlPools } from '../core/mysql.ts';
import { GrantStore } from '../issuance/grant-store.ts';
import type { ReconcileCtx } from '../reconcile/context.ts';
import { Lease } from '../reconcile/lease.ts';
import { type GrantProgress, GrantRunner, type GrantRunDeps } from './grant-runner.ts';

/** A runner's dependencies on the reconciler's clients. */
export function grantRunDeps(cfg: Config, rc: ReconcileCtx, mysql: MysqlPools, progress?: GrantProgress): GrantRunDeps {
  return {
    commands: rc.commands, redis: rc.redis, ks: rc.ks, layout: rc.layout, grants: new GrantStore(mysql, cfg.mysql),
    template: (id) => rc.store.get(id), group: rc.group, retryMs: cfg.grants.retryMs, cfg: cfg.grants, progress,
  };
}

// How long a stopping sink waits for its runners' chunks in hand.
const STOP_GRACE_MS = 5_000;

export class GrantJobs {
  private timer: NodeJS.Timeout | undefined;
  private readonly lease: Lease;
  private readonly runners = new Map<string, Promise<void>>();
  private holding = false;
  private stopped = false;

  /** Jobs this process is running now (read by /metrics). */
  get running(): number {
    return this.runners.size;
  }

  constructor(private readonly d: GrantRunDeps, owner: string, leaseMs: number, private readonly log: Log) {
    this.lease = new Lease(d.redis, d.ks, owner, leaseMs);
  }

  /** Starts looking for jobs. */
  start(): void {
    this.timer = setTimeout(() => {
      void this.tick().finally(() => { if (!this.stopped) this.start(); });
    }, this.d.cfg.pollMs);
    this.timer.unref();
  }

  /**
   * Stops: each runner finishes and commits its chunk in hand, or is left after STOP_GRACE_MS
   * (a chunk retrying a failing Redis could take GRANT_RETRY_MS): an abandoned chunk is decided
   * again by the next run, its coupons replay.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.race([Promise.all(this.runners.values()), sleep(STOP_GRACE_MS, undefined, { ref: false })]);
  }

  private async tick(): Promise<void> {
    try {
      this.holding = (await this.lease.take()).ok;
      if (!this.holding) return;
      for (const id of await this.d.grants.running()) {
        if (this.runners.has(id)) continue;
        this.log.info('grant running', { grantId: id });
        const p = new GrantRunner(this.d, id, () => this.stopped || !this.holding).run()
          .then(async () => {
            const g = await this.d.grants.get(id);
            this.log.info('grant runner ended', { grantId: id, state: g?.state ?? 'gone', granted: g?.granted, failed: g?.failed });
          }, (err: unknown) => this.log.error(`grant-${id}`, 'grant stopped on an error; resumed from its cursor', err, { grantId: id }))
          .finally(() => this.runners.delete(id));
        this.runners.set(id, p);
      }
    } catch (err) {
      this.log.error('grants', 'grant jobs: could not look for work; retried', err);
    }
  }
}
