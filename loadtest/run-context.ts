/**
 * What a scenario is (scenarios.ts and scenarios/ hold them) and what it can do while it runs:
 * the contract between main.ts and the scenarios, in a file of its own so the scenarios in
 * scenarios/ need not import the list that imports them.
 */
import type { Config } from '../config/index.ts';
import type { AdminClient, CreatedTemplate, TemplateSpec } from './admin.ts';
import type { FactSources } from './checkout-facts.ts';
import type { Bound } from './closed-loop.ts';
import type { Flow } from './flow-loop.ts';
import type { LoadOptions } from './options.ts';
import type { Collected, PhaseResult } from './recorder.ts';
import type { ClaimKey, UserAuth, Workload } from './requests.ts';
import type { VerifyInput } from './verify.ts';

/** What a scenario can do while it runs. */
export interface RunContext {
  readonly o: LoadOptions;
  /** User tokens for the requests, when the gateway requires them. */
  readonly auth: UserAuth;
  readonly runId: string;
  readonly templates: readonly CreatedTemplate[];
  /** The run's settings (the gateway's environment): code secret, failure budget. */
  readonly cfg: Config;
  /** The admin API: code batches and grant jobs. */
  readonly admin: AdminClient;
  /** What the phases recorded so far. */
  readonly collected: Collected;
  /** One measured phase, with the run's driver (open loop with --rate), unless `closedLoop` forces autocannon. */
  phase(label: string, w: Workload, bound: Bound, closedLoop?: boolean): Promise<PhaseResult>;
  /** A measured phase of flows (flow-loop.ts): `connections` at a time, until the bound. */
  flows(label: string, flow: Flow, bound: Bound): Promise<PhaseResult>;
  /** Waits until the sink stored every issuance record so far (up to --drain-wait); false if it did not. */
  waitForStored(): Promise<boolean>;
  /** Where checkout's facts are read: the gateway's MySQL and the API. */
  readonly checkoutSources: FactSources;
  /** One claim outside any phase; returns its HTTP status. */
  claimOnce(key: ClaimKey): Promise<number>;
  /** Sum of the template's sub-stocks now (reads the stock keys). */
  remaining(t: CreatedTemplate): Promise<number>;
  /** Stamps the template's reference key with Redis's key clock (facts.ts markKeyClock). */
  markKeyClock(t: CreatedTemplate): Promise<void>;
  /** Idle seconds of the reference key and of each sub-stock key (facts.ts stockIdle). */
  stockIdle(t: CreatedTemplate): Promise<{ reference: number; stock: number[] } | null>;
}

/** Scenario-specific facts and expectations for the verifier; `listingSample` asks main to check listings after the drain. */
export type ScenarioChecks = Pick<VerifyInput, 'soldOutPhase' | 'expectReplays' | 'codes' | 'grant' | 'checkout'> & { listingSample?: number };

export interface Scenario {
  readonly summary: string;
  templates(o: LoadOptions, idPrefix: string): TemplateSpec[];
  run(ctx: RunContext): Promise<ScenarioChecks>;
}
