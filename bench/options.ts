/** Command-line flags of `make bench` (argv only: configuration of the product stays in config/). */
import { parseArgs } from 'node:util';

export type Section = 'e2e' | 'sink' | 'micro' | 'grant' | 'checkout' | 'topology' | 'wait';

export interface BenchOptions {
  /** Measured seconds of every HTTP load run (autocannon and wrk). */
  readonly durationS: number;
  /** Unmeasured seconds before each autocannon run, so both servers are JIT-warm. */
  readonly warmupS: number;
  readonly connections: number;
  /** Sub-stocks of the e2e hot template; undefined: the product's default for its stock (16 here). */
  readonly subStocks?: number;
  readonly wrk: boolean;
  /** Records pre-filled into the streams for the sink drain. */
  readonly sinkRecords: number;
  /** Single-row autocommit INSERTs of the comparison run, and how many run at once. */
  readonly singleRows: number;
  readonly singleConcurrency: number;
  /** Time budget of each micro-benchmark task. */
  readonly microMs: number;
  readonly sections: readonly Section[];
  /** Users of the bulk grant section, and the most seconds its job may run before it is cancelled. */
  readonly grantUsers: number;
  readonly grantSeconds: number;
  /** Quotes per second of the checkout section's open loop, and lock + confirm pairs in flight at once. */
  readonly quoteRate: number;
  readonly checkoutConcurrency: number;
  /** Directory for V8 CPU profiles of the gateway and sink children, or undefined. */
  readonly profileDir?: string;
  /** The command line as typed, for the report. */
  readonly argv: readonly string[];
}

const USAGE = `usage: node --import tsx bench/run.ts [--quick] [--duration=S] [--warmup=S] [--connections=N] [--sub-stocks=K]
  [--no-wrk] [--sink-records=N] [--single-rows=N] [--single-concurrency=N] [--micro-ms=N]
  [--only=e2e,sink,micro,checkout,grant,topology,wait] [--grant-users=N] [--grant-seconds=S] [--quote-rate=N] [--checkout-concurrency=N] [--profile]
  (--profile: V8 CPU profiles of gateway and sink in .data/bench-prof/; topology, wait: make bench TOPOLOGY=cluster)`;

function num(raw: string | undefined, def: number, name: string, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}]\n${USAGE}`);
  return n;
}

/** Parses argv; `--quick` shrinks every default so a smoke run takes well under a minute. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' }, 'sub-stocks': { type: 'string' },
      'no-wrk': { type: 'boolean', default: false },
      'sink-records': { type: 'string' }, 'single-rows': { type: 'string' }, 'single-concurrency': { type: 'string' },
      'micro-ms': { type: 'string' }, only: { type: 'string' }, 'grant-users': { type: 'string' }, 'grant-seconds': { type: 'string' },
      'quote-rate': { type: 'string' }, 'checkout-concurrency': { type: 'string' }, help: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const q = values.quick;
  const sections = (values.only ?? 'e2e,sink,micro,checkout').split(',').map((s) => s.trim());
  // grant (issue 12) is asked for by name: a million-user job takes minutes; topology and wait (issue 15)
  // need the scaled-out servers (make bench TOPOLOGY=cluster).
  for (const s of sections) if (!['e2e', 'sink', 'micro', 'grant', 'checkout', 'topology', 'wait'].includes(s)) throw new Error(`--only: unknown section ${s}\n${USAGE}`);
  return {
    // upper bounds keep a typo from loading the shared box for an hour.
    durationS: num(values.duration, q ? 3 : 10, 'duration', 1, 120),
    warmupS: num(values.warmup, q ? 1 : 2, 'warmup', 0, 30),
    connections: num(values.connections, 100, 'connections', 1, 1000),
    subStocks: values['sub-stocks'] === undefined ? undefined : num(values['sub-stocks'], 16, 'sub-stocks', 1, 1024),
    wrk: !values['no-wrk'],
    sinkRecords: num(values['sink-records'], q ? 20_000 : 100_000, 'sink-records', 1000, 2_000_000),
    singleRows: num(values['single-rows'], q ? 3_000 : 10_000, 'single-rows', 100, 50_000),
    singleConcurrency: num(values['single-concurrency'], 8, 'single-concurrency', 1, 64),
    microMs: num(values['micro-ms'], q ? 100 : 250, 'micro-ms', 20, 5_000),
    sections: sections as Section[],
    grantUsers: num(values['grant-users'], q ? 50_000 : 1_000_000, 'grant-users', 1000, 10_000_000),
    grantSeconds: num(values['grant-seconds'], 600, 'grant-seconds', 10, 1800),
    quoteRate: num(values['quote-rate'], 1000, 'quote-rate', 10, 20_000),
    checkoutConcurrency: num(values['checkout-concurrency'], 64, 'checkout-concurrency', 1, 1000),
    profileDir: values.profile ? '.data/bench-prof' : undefined,
    argv,
  };
}
