/**
 * One scrape covers every worker (GATEWAY_WORKERS > 1). A scrape reaches one worker: the one the
 * kernel gave the connection, or always worker 0 with ADMIN_ROUTES=separate. That worker asks
 * the supervisor over the fork IPC channel; the supervisor asks every worker for its registry as
 * JSON, merges them (prom-client's AggregatorRegistry.aggregate) and sends back the text. Each
 * worker labels its series with `worker`, so nothing is summed away: Prometheus sees every
 * worker's counters on every scrape, whichever worker answered.
 */
import type { ChildProcess } from 'node:child_process';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

type Metrics = MetricObjectWithValues<MetricValue<string>>[];

/** worker -> supervisor: gather everyone's metrics for scrape `gather`. */
interface GatherAsk { readonly metricsGather: number }
/** supervisor -> worker: the merged text (or why there is none) for scrape `gathered`. */
interface GatherAnswer { readonly metricsGathered: number; readonly text?: string; readonly error?: string }
/** supervisor -> worker: send your registry as JSON, for collection `collect`. */
interface CollectAsk { readonly metricsCollect: number }
/** worker -> supervisor: a worker's registry. */
interface CollectAnswer { readonly metricsCollected: number; readonly metrics: Metrics }

// A worker busy with a burst answers IPC within milliseconds; one that does not within this is
// left out of the scrape (its series are absent once, not wrong) rather than stalling it.
const COLLECT_TIMEOUT_MS = 2_000;
// The asking worker waits a little longer than the supervisor's own wait on the others.
const GATHER_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 1_000;

const is = <T>(m: unknown, key: string): m is T => typeof m === 'object' && m !== null && key in m;

/**
 * In a worker: answers the supervisor's collections from `registry`, and returns the scrape
 * function /metrics uses: every worker's metrics as Prometheus text, through the supervisor.
 */
export function workerScrape(registry: Registry): () => Promise<string> {
  // With a callback, a channel that closed meanwhile (the supervisor died; this worker drains and
  // still serves /metrics) is an error passed here, not an 'error' event that would kill the process.
  const send = (m: GatherAsk | CollectAnswer, failed: (err: Error) => void = () => undefined) => {
    if (!process.connected || !process.send) failed(new Error('no supervisor to gather the workers\' metrics'));
    else process.send(m, undefined, {}, (err) => err && failed(err));
  };
  const waiting = new Map<number, (a: GatherAnswer) => void>();
  let next = 0;
  process.on('message', (m: unknown) => {
    if (is<CollectAsk>(m, 'metricsCollect')) {
      registry.getMetricsAsJSON().then((metrics) => send({ metricsCollected: m.metricsCollect, metrics: metrics as Metrics }),
        () => send({ metricsCollected: m.metricsCollect, metrics: [] }));
    } else if (is<GatherAnswer>(m, 'metricsGathered')) {
      waiting.get(m.metricsGathered)?.(m);
    }
  });
  return () => new Promise((resolve, reject) => {
    const id = ++next;
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error('the supervisor did not gather the workers\' metrics in time'));
    }, GATHER_TIMEOUT_MS);
    waiting.set(id, (a) => {
      clearTimeout(timer);
      waiting.delete(id);
      if (a.text !== undefined) resolve(a.text);
      else reject(new Error(a.error ?? 'no metrics'));
    });
    send({ metricsGather: id }, (err) => waiting.get(id)?.({ metricsGathered: id, error: err.message }));
  });
}

/** In the supervisor: answers a worker's gather by collecting from every live worker (`workers()`). */
export class MetricsGatherer {
  private next = 0;
  private readonly collecting = new Map<number, (from: ChildProcess, metrics: Metrics) => void>();
  // Scrapes that arrive while one is gathered share its answer: N scrapers cost one round, not N.
  private gathering: Promise<string> | undefined;

  constructor(private readonly workers: () => ChildProcess[]) {}

  /** Handles one IPC message from `child`; false when it is not about metrics. */
  handle(child: ChildProcess, m: unknown): boolean {
    if (is<CollectAnswer>(m, 'metricsCollected')) {
      this.collecting.get(m.metricsCollected)?.(child, m.metrics);
      return true;
    }
    if (!is<GatherAsk>(m, 'metricsGather')) return false;
    const answer = (a: Omit<GatherAnswer, 'metricsGathered'>) => {
      // the callback takes the error of a channel that closed meanwhile (the worker died).
      if (child.connected) child.send({ metricsGathered: m.metricsGather, ...a }, (err) => err && undefined);
    };
    this.text().then((text) => answer({ text }), (err: unknown) => answer({ error: err instanceof Error ? err.message : String(err) }));
    return true;
  }

  /** Every worker's metrics as one Prometheus text; a gather under way is shared. */
  private text(): Promise<string> {
    this.gathering ??= this.gather().then((all) => {
      // prom-client omits some process metrics when it merges (process_start_time_seconds): every
      // series here carries its own worker label, so none is merged away and each is kept as is.
      for (const metrics of all) for (const metric of metrics) metric.aggregator = 'first';
      return AggregatorRegistry.aggregate(all).metrics();
    }).finally(() => { this.gathering = undefined; });
    return this.gathering;
  }

  /** Every live worker's registry, those that answer within COLLECT_TIMEOUT_MS. */
  private gather(): Promise<Metrics[]> {
    const id = ++this.next;
    const asked = this.workers().filter((c) => c.connected);
    const got = new Map<ChildProcess, Metrics>();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.collecting.delete(id);
        resolve([...got.values()]);
      };
      const timer = setTimeout(done, COLLECT_TIMEOUT_MS);
      this.collecting.set(id, (from, metrics) => {
        if (!asked.includes(from)) return;
        got.set(from, metrics);
        if (got.size === asked.length) done();
      });
      if (asked.length === 0) done();
      // a worker dying right now closes its channel: it is simply not heard from.
      for (const c of asked) c.send({ metricsCollect: id }, (err) => err && undefined);
    });
  }
}
