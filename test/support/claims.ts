/** Builds the gateway's claim service in-process on a test's storage (no HTTP in between). */
import { performance } from 'node:perf_hooks';
import { Admission } from '../../gateway/admission.ts';
import { BacklogMonitor } from '../../gateway/backlog.ts';
import { Breaker } from '../../gateway/breaker.ts';
import { ClaimService } from '../../gateway/claim/service.ts';
import { LatencyBuckets } from '../../gateway/stats/latency.ts';
import { ClaimCounter } from '../../gateway/stats/counter.ts';
import { TemplateCache } from '../../gateway/cache/template-cache.ts';
import type { Template } from '../../templates/model.ts';
import { LiveTemplates } from '../../templates/live.ts';
import { TemplateStore } from '../../templates/store.ts';
import type { Config } from '../../config/index.ts';
import { Commands } from '../../lua/commands.ts';
import type { KeySpace } from '../../lua/keys.ts';
import type { Storage } from '../../tools/harness/storage.ts';
import { templateFixture } from '../../tools/harness/template-fixture.ts';
import { drained } from '../../tools/harness/storage.ts';
import { judge, type Facts, type Verdict } from '../../tools/verify/oracle.ts';
import { storedCoupons, templateState } from '../../tools/verify/facts.ts';
import { startSink } from '../../sink/sink.ts';
import { waitFor } from './sink-fixtures.ts';

export interface ClaimRig {
  readonly ks: KeySpace;
  readonly store: TemplateStore;
  readonly cache: TemplateCache;
  readonly backlog: BacklogMonitor;
  readonly service: ClaimService;
  /** Creates a template (MySQL + Redis) with sensible defaults for the fields not given. */
  template(over: Partial<Template>): Promise<Template>;
}

/** A claim service wired exactly as the gateway wires it; `claim` overrides its claim settings. */
export function claimRig(s: Storage, claim: Partial<Config['claim']> = {}): ClaimRig {
  const { redis, mysql } = s;
  const cfg = { ...s.cfg, claim: { ...s.cfg.claim, ...claim } };
  const ks = { prefix: cfg.redis.keyPrefix, partitions: cfg.redis.partitions };
  const live = new LiveTemplates(redis, ks);
  const store = new TemplateStore(mysql, live, cfg.mysql);
  const cache = new TemplateCache((id) => live.get(id), cfg.claim.missTtlMs, cfg.claim.missCacheMax);
  const backlog = new BacklogMonitor(redis, ks, cfg.redis.streamGroup, cfg.claim.backlogMax, cfg.claim.backlogPollMs);
  const service = new ClaimService({
    commands: new Commands(redis, ks), ks, cache, backlog, counter: new ClaimCounter(), latency: new LatencyBuckets(), redisLatency: new LatencyBuckets(), cfg: cfg.claim,
    breaker: new Breaker({ failures: cfg.redis.breakerFailures, windowMs: cfg.redis.breakerWindowMs, coolDownMs: cfg.redis.breakerCoolDownMs }),
    layout: { dbs: cfg.mysql.shardDbs, tables: cfg.mysql.shardTables },
    admission: new Admission(cfg.admission, performance.now()),
  });
  return {
    ks, store, cache, backlog, service,
    template: async (over) => {
      const t = templateFixture(over);
      await store.create(t);
      return t;
    },
  };
}

/**
 * Lets a sink store every record, then judges the templates' rows and stock against what the
 * clients were told (`facts`: the rest of the oracle's facts, backlog 0).
 */
export async function judgeAfterSink(s: Storage, ks: KeySpace, templates: readonly Template[],
  facts: Omit<Facts, 'templates' | 'rows' | 'backlog'>): Promise<Verdict> {
  const sink = await startSink(s.cfg, { redis: s.redis, mysql: s.mysql });
  try {
    await waitFor(() => drained(s), 20_000, 'the sink to drain');
  } finally {
    await sink.stop();
  }
  const layout = { dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables };
  return judge({
    ...facts,
    templates: await Promise.all(templates.map((t) => templateState(s.redis, ks, t))),
    rows: await storedCoupons(s.mysql, s.cfg.mysql.dbPrefix, layout, { ids: templates.map((t) => t.id) }),
    backlog: 0,
  });
}
