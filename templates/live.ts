/**
 * The live side of templates in Redis: sub-stocks, the versioned live copy gateways cache, and
 * the change announcement. Every step is idempotent and version-guarded, so publishing again
 * (a retried admin call, a rebuild, a reload) completes a half-done change and never undoes a
 * newer one.
 */
import { ScriptCode } from '../lua/codes.ts';
import type { RedisClient } from '../lua/client.ts';
import { Commands } from '../lua/commands.ts';
import { budgetKey, type KeySpace, stockKey, templateChannel, templateKey } from '../lua/keys.ts';
import { isRedPacket, subBudgetShare, subStockShare, type Template } from './model.ts';

export interface StockView {
  readonly total: number;
  readonly remaining: number;
  readonly issued: number;
  /** A red packet's cents not yet given out (the sum of its sub-stocks' budgets). */
  readonly budgetLeft?: number;
}

/** What a gateway hears on the channel: this template changed and is now at this version. */
export interface ChangeNotice {
  readonly id: string;
  readonly version: number;
}

/** Parses a channel message; undefined for anything that is not a notice. */
export function parseNotice(message: string): ChangeNotice | undefined {
  try {
    const n = JSON.parse(message) as Partial<ChangeNotice>;
    return typeof n.id === 'string' && Number.isSafeInteger(n.version) ? (n as ChangeNotice) : undefined;
  } catch {
    return undefined;
  }
}

export class LiveTemplates {
  private readonly commands: Commands;

  constructor(private readonly redis: RedisClient, private readonly ks: KeySpace) {
    this.commands = new Commands(redis, ks);
  }

  /**
   * Creates the sub-stocks of a new template where absent (never overwrites one: claims may
   * have spent it). Only for templates that have never been live: after Redis lost its data,
   * full sub-stocks would re-issue what was issued; the rebuild restores those instead.
   */
  async initStock(t: Template): Promise<void> {
    // A red packet's budgets first: a claim that finds the stock finds its budget too.
    if (isRedPacket(t)) {
      await Promise.all(Array.from({ length: t.subStocks }, (_, k) =>
        this.redis.set(budgetKey(this.ks, t.id, k), subBudgetShare(t, k), 'NX')));
    }
    await Promise.all(Array.from({ length: t.subStocks }, (_, k) =>
      this.redis.set(stockKey(this.ks, t.id, k), subStockShare(t.totalStock, t.subStocks, k), 'NX')));
  }

  /** Stores the live copy unless a newer one is there, then tells every gateway. */
  async publish(t: Template): Promise<void> {
    const [code] = await this.commands.templatePut(t.id, t.version, JSON.stringify(t));
    if (code === ScriptCode.Written) await this.announce(t);
  }

  /** Tells every gateway that `t` changed (they fetch it and keep the newer version). */
  async announce(t: Template): Promise<void> {
    const notice: ChangeNotice = { id: t.id, version: t.version };
    await this.redis.publish(templateChannel(this.ks), JSON.stringify(notice));
  }

  /** The live copy, or null when Redis has none. */
  async get(id: string): Promise<Template | null> {
    const raw = await this.redis.hget(templateKey(this.ks, id), 'data');
    return raw === null ? null : (JSON.parse(raw) as Template);
  }

  /** Sums the sub-stocks; a missing sub-stock key is reported as an error, not as 0. */
  async stock(t: Template): Promise<StockView> {
    const values = await Promise.all(
      Array.from({ length: t.subStocks }, (_, k) => this.redis.get(stockKey(this.ks, t.id, k))));
    if (values.some((v) => v === null)) throw new Error(`template ${t.id} has sub-stock keys missing in Redis`);
    const remaining = values.reduce((s, v) => s + Number(v), 0);
    const view = { total: t.totalStock, remaining, issued: t.totalStock - remaining };
    if (!isRedPacket(t)) return view;
    const budgets = await Promise.all(Array.from({ length: t.subStocks }, (_, k) => this.redis.get(budgetKey(this.ks, t.id, k))));
    if (budgets.some((v) => v === null)) throw new Error(`template ${t.id} has budget keys missing in Redis`);
    return { ...view, budgetLeft: budgets.reduce((s, v) => s + Number(v), 0) };
  }
}
