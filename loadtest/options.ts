/**
 * Command line of `npm run loadtest -- <scenario> [options]` (argv only: the product's settings
 * still come from config/). Every run is bounded: a duration or a request count is required.
 */
import { type Command, CommanderError } from 'commander';
import { cliProgram, parseQuietly, usageMessage } from '../cli/command-line.ts';
import { BATCH_COUNT_MAX } from '../redemption/code-mac.ts';

export const SCENARIOS = ['hot', 'spread', 'dupes', 'soldout', 'mixed', 'batch', 'packets', 'codes', 'grant', 'checkout'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export type BodyFormat = 'json' | 'msgpack';

export interface LoadOptions {
  readonly scenario: ScenarioName;
  /** Origin of the running gateway. */
  readonly url: string;
  /** Origin of its admin routes (the same unless they have their own listener). */
  readonly adminUrl: string;
  readonly connections: number;
  /** Exactly one of durationS / requests is set. */
  readonly durationS?: number;
  readonly requests?: number;
  /** Target requests/s (open loop); undefined = closed loop (autocannon, as fast as it answers). */
  readonly rate?: number;
  readonly format: BodyFormat;
  readonly users: number;
  /** Stock of each template the scenario creates. */
  readonly stock: number;
  readonly templates: number;
  /** Parent folder of the report folder. */
  readonly outDir: string;
  readonly charts: boolean;
  /** Seconds to wait for the sink to drain before verifying. */
  readonly drainWaitS: number;
}

/** A bad command line: main prints the message and exits 2. */
export class OptionError extends Error {}

/** What the flags do not say: where the rest of the settings come from, and the scenarios. */
const NOTES = `Storage addresses (REDIS_URL, MYSQL_URL, KEY_PREFIX, DB_PREFIX, PARTITIONS, SHARD_DBS, ...) and
the admin token (ADMIN_TOKEN) are read from the same environment variables as the gateway's, and
so are CODE_SECRET and REDEEM_FAILURE_BURST (codes: its used and invalid codes all come from this
one address; start the gateway and the run with REDEEM_FAILURE_BURST=1000000).
Scenarios: hot, spread, dupes, soldout, mixed, batch (claims); codes (redemption codes contested
by two users, replayed, invalid); grant (a bulk grant job during a claim rain on its template);
checkout (claims, then orders: quote, lock, confirm or cancel, retries, refunds; the bound is the
orders phase's, a closed loop of --connections orders at a time; ORDER_SERVICE_TOKEN is read too).`;

/**
 * The flags as commander reads them: strings, checked by parseOptions (which owns the defaults
 * and bounds, so the help names them in words).
 */
function loadtestCommand(): Command {
  return cliProgram('loadtest', 'Drives a running gateway with a scenario, then verifies it (every run is bounded).')
    .argument('[scenario]', SCENARIOS.join(' | '))
    // parseOptions counts the scenarios itself, to name what it expected.
    .allowExcessArguments()
    .option('--url <url>', 'running gateway (default http://127.0.0.1:8080)')
    .option('--admin-url <url>', 'its admin routes, when they have their own listener (default: --url)')
    .option('--connections <n>', 'concurrent connections (default 100)')
    .option('--duration <s>', 'seconds of load (1-600), or')
    .option('--requests <n>', 'requests to send (1-10,000,000)')
    .option('--rate <r>', 'open loop at R requests/s (latency counted from each request\'s scheduled send time); without it: closed loop with autocannon')
    .option('--format <json|msgpack>', 'claim and redemption bodies (default json)')
    .option('--users <n>', 'distinct users (default: scenario\'s; grant: listed, and as many in the rain)')
    .option('--stock <n>', 'stock of each template (default: scenario\'s; codes: also the codes made, at most 1,000,000)')
    .option('--templates <n>', 'templates of spread (default 2000), mixed and batch (default 10; batch: at most 20), checkout (default 4: each user claims one coupon of each)')
    .option('--out <dir>', 'parent of the report folder (default reports/)')
    .option('--no-charts', 'skip the charts (SVG and PNG; report.html then has none)')
    .option('--drain-wait <s>', 'seconds to wait for the sink to drain before verifying (default 120)');
}

/** The help text of `npm run loadtest -- --help`. */
export function usage(): string {
  return `${loadtestCommand().helpInformation()}\n${NOTES}`;
}

/** Per-scenario defaults: the shape of the traffic each one stands for. */
export const DEFAULTS: Record<ScenarioName, { users: number; stock: number; templates: number }> = {
  // the red-packet rain: 100k users racing for 10k coupons.
  hot: { users: 100_000, stock: 10_000, templates: 1 },
  // the same rain of random-amount red packets: 10k packets share a budget of 100 cents each on average.
  packets: { users: 100_000, stock: 10_000, templates: 1 },
  // many templates, each with more stock than its share of the traffic.
  spread: { users: 100_000, stock: 1_000, templates: 2_000 },
  // a few users hammering the button: limits and replays, not stock, decide.
  dupes: { users: 200, stock: 1_000_000, templates: 1 },
  // a small stock gone in the first phase; the rest is traffic after the sell-out.
  soldout: { users: 100_000, stock: 1_000, templates: 1 },
  mixed: { users: 10_000, stock: 100_000, templates: 10 },
  // "claim all": every user asks for the same 10 campaigns in one request, and retries it once.
  batch: { users: 20_000, stock: 10_000, templates: 10 },
  // 10,000 codes (one per coupon), each sent by two of 6,000 users: about three tries per user under a limit of 1.
  codes: { users: 6_000, stock: 10_000, templates: 1 },
  // a grant to 20,000 users beside a rain of 20,000 (2,000 in both) on 30,000 coupons: the stock runs out.
  grant: { users: 20_000, stock: 30_000, templates: 1 },
  // 2,000 shoppers holding one coupon of each of 4 campaigns, each scoped to its own category.
  checkout: { users: 2_000, stock: 2_000, templates: 4 },
};

// Upper bounds keep a typo from loading a shared machine for an hour or filling its memory.
const MAX = {
  connections: 1_000, durationS: 600, requests: 10_000_000, rate: 200_000, users: 1_000_000,
  stock: 1_000_000_000, templates: 20_000, drainWaitS: 3_600,
};
// POST /v1/claim/batch takes at most this many templates.
const BATCH_MAX_TEMPLATES = 20;
// soldout's memory check reads Redis's per-key idle time, which counts whole seconds.
export const SOLDOUT_MIN_DURATION_S = 3;
// soldout's first phase sends twice the stock; keep that phase short.
const SOLDOUT_MAX_STOCK = 100_000;

function int(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw.replaceAll('_', ''));
  if (!/^\d[\d_]*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new OptionError(`--${name} must be an integer from ${min} to ${max.toLocaleString('en-US')} (got ${JSON.stringify(raw)})`);
  }
  return n;
}

/** The origin of an http:// URL flag. */
function origin(raw: string, name: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new OptionError(`--${name} ${JSON.stringify(raw)} is not a URL`);
  }
  if (u.protocol !== 'http:' || u.pathname !== '/' || u.search !== '') {
    throw new OptionError(`--${name} must be an http:// origin such as http://127.0.0.1:8080 (got ${raw})`);
  }
  return u.origin;
}

/** Parses and validates argv; throws OptionError with a message fit for the user. Null for --help. */
export function parseOptions(argv: readonly string[]): LoadOptions | null {
  const cmd = loadtestCommand();
  try {
    if (parseQuietly(cmd, argv).help !== undefined) return null;
  } catch (err) {
    if (err instanceof CommanderError) throw new OptionError(usageMessage(err));
    throw err;
  }
  const v = cmd.opts<Partial<Record<'url' | 'adminUrl' | 'connections' | 'duration' | 'requests' | 'rate' | 'format' | 'users' |
    'stock' | 'templates' | 'out' | 'drainWait', string>> & { charts: boolean }>();
  const positionals = cmd.args;
  if (positionals.length !== 1) throw new OptionError(`expected one scenario (${SCENARIOS.join(', ')}), got ${positionals.length}`);
  const scenario = positionals[0] as ScenarioName;
  if (!SCENARIOS.includes(scenario)) throw new OptionError(`unknown scenario ${JSON.stringify(positionals[0])}: use one of ${SCENARIOS.join(', ')}`);

  const url = origin(v.url ?? 'http://127.0.0.1:8080', 'url');

  const durationS = int(v.duration, 'duration', 1, MAX.durationS);
  const requests = int(v.requests, 'requests', 1, MAX.requests);
  if ((durationS === undefined) === (requests === undefined)) {
    throw new OptionError('give exactly one of --duration S or --requests N: every run is bounded');
  }
  const connections = int(v.connections, 'connections', 1, MAX.connections) ?? 100;
  const rate = int(v.rate, 'rate', 1, MAX.rate);
  // autocannon gives every connection at least one request of the count.
  if (rate === undefined && requests !== undefined && requests < connections) {
    throw new OptionError(`--requests (${requests}) must be at least --connections (${connections})`);
  }
  if (rate !== undefined && durationS !== undefined && rate * durationS > MAX.requests) {
    throw new OptionError(`--rate x --duration is ${rate * durationS} requests; at most ${MAX.requests.toLocaleString('en-US')}`);
  }
  const format = v.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') throw new OptionError(`--format must be json or msgpack (got ${JSON.stringify(format)})`);

  const d = DEFAULTS[scenario];
  const templates = int(v.templates, 'templates', 1, MAX.templates);
  if (templates !== undefined && !['spread', 'mixed', 'batch', 'checkout'].includes(scenario)) {
    throw new OptionError(`--templates applies to spread, mixed, batch and checkout only; ${scenario} uses ${d.templates}`);
  }
  // an order's lock needs its quote's answer: orders run as closed-loop sequences of calls.
  if (scenario === 'checkout' && rate !== undefined) throw new OptionError('checkout runs its orders closed loop: --rate does not apply');
  if (scenario === 'batch' && templates !== undefined && templates > BATCH_MAX_TEMPLATES) {
    throw new OptionError(`batch asks for every template in one request: --templates at most ${BATCH_MAX_TEMPLATES}`);
  }
  const stockMax = scenario === 'soldout' ? SOLDOUT_MAX_STOCK : scenario === 'codes' ? BATCH_COUNT_MAX : MAX.stock;
  const stock = int(v.stock, 'stock', 1, stockMax) ?? d.stock;
  // codes sends each code by two different users.
  const users = int(v.users, 'users', scenario === 'codes' ? 2 : 1, MAX.users) ?? d.users;
  if (scenario === 'soldout' && (durationS === undefined || durationS < SOLDOUT_MIN_DURATION_S)) {
    throw new OptionError(`soldout needs --duration of at least ${SOLDOUT_MIN_DURATION_S} s: its check that the ` +
      'claim script was not called reads Redis key idle times, which count whole seconds');
  }
  return {
    scenario, url, adminUrl: v.adminUrl === undefined ? url : origin(v.adminUrl, 'admin-url'), connections, durationS, requests, rate, format: format as BodyFormat,
    users,
    stock, templates: templates ?? d.templates,
    outDir: v.out ?? 'reports', charts: v.charts,
    drainWaitS: int(v.drainWait, 'drain-wait', 1, MAX.drainWaitS) ?? 120,
  };
}
