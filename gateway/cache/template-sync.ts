/**
 * Keeps the local template cache current (brief, section 2: invalidated by a push on change,
 * plus a full reload as a safety net). Changes arrive on a Redis channel and are applied within
 * moments; a reconnect re-reads every cached template, since notices sent meanwhile are lost;
 * a periodic reload from MySQL catches anything else. Versions keep the newest copy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../../lua/client.ts';
import { type KeySpace, templateChannel } from '../../lua/keys.ts';
import { log, logThrottled } from '../../core/log.ts';
import type { TemplateCache } from './template-cache.ts';
import { parseNotice } from '../../templates/live.ts';
import type { Template } from '../../templates/model.ts';

const NOTICE_ATTEMPTS = 5;

export interface SyncOptions {
  /** Full reload period (ms). */
  readonly reloadEveryMs: number;
  /** Every template a gateway may need to refresh from the source of truth. */
  readonly loadCurrent: () => Promise<Template[]>;
}

export class TemplateSync {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Full reloads done and failed, and change notices applied, since start (read by /metrics). */
  reloads = 0;
  reloadFailures = 0;
  noticesApplied = 0;

  constructor(private readonly sub: RedisClient, private readonly ks: KeySpace,
    private readonly cache: TemplateCache, private readonly o: SyncOptions) {}

  /** Subscribes (resolves once subscribed) and starts the periodic reload. */
  async start(): Promise<void> {
    this.sub.on('message', (channel: string, message: string) => {
      const n = parseNotice(message);
      if (channel === templateChannel(this.ks) && n) void this.apply(n.id, n.version);
    });
    // The first 'ready' is the initial connection (unless it already happened); every later
    // one is a reconnect, after which notices sent meanwhile are lost.
    let first = this.sub.status !== 'ready';
    this.sub.on('ready', () => {
      if (!first) void this.refreshCached();
      first = false;
    });
    await this.sub.subscribe(templateChannel(this.ks));
    this.schedule();
  }

  /** Stops listening and reloading. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sub.quit().catch(() => undefined);
  }

  /** Reloads every template from the source of truth now (also run by the timer). */
  async reloadAll(): Promise<number> {
    let all: Template[];
    try {
      all = await this.o.loadCurrent();
    } catch (err) {
      this.reloadFailures++;
      throw err;
    }
    for (const t of all) this.cache.put(t);
    this.reloads++;
    return all.length;
  }

  /** Applies one notice; a failed fetch (Redis hiccup) is retried with backoff. */
  private async apply(id: string, version: number | undefined): Promise<void> {
    for (let attempt = 1, wait = 50; attempt <= NOTICE_ATTEMPTS && !this.stopped; attempt++, wait *= 2) {
      try {
        if (await this.cache.notice(id, version)) {
          this.noticesApplied++;
          return;
        }
      } catch (err) {
        logThrottled('template-notice', 'warn', 'template refresh failed, retrying', { templateId: id, err });
      }
      await sleep(wait);
    }
    log('warn', 'template change not applied; the periodic reload will catch up', { templateId: id, version });
  }

  private async refreshCached(): Promise<void> {
    await Promise.all(this.cache.ids().map((id) => this.apply(id, undefined)));
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.reloadAll()
        .catch((err: unknown) => log('warn', 'periodic template reload failed', { err }))
        .finally(() => { if (!this.stopped) this.schedule(); });
    }, this.o.reloadEveryMs);
    this.timer.unref();
  }
}
