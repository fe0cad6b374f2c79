/** Settings of the drill's gateways, sinks and load that differ from the product defaults, and why (both stacks). */

export const ADMIN_TOKEN = 'drill-admin-token';

/** The sinks' settings. */
export const SINK_SETTINGS = {
  // batches held a little longer than by default, so a kill lands mid-batch.
  SINK_BATCH_MAX_WAIT_MS: '200',
  // a dead consumer's records are taken over after 3 s instead of 30 s: the drill is short.
  SINK_RECLAIM_IDLE_MS: '3000',
  SINK_RECLAIM_EVERY_MS: '500',
  // MySQL back: the sink notices within a second.
  SINK_RETRY_MAX_MS: '1000',
  // the sinks' reconciler settles reservations a fault left behind within seconds (30 s and
  // every minute by default), so each drill can check that it did.
  RECONCILE_PENDING_AGE_MS: '2000',
  RECONCILE_EVERY_MS: '1000',
};

/** The load driver's client timeout, attempts per request and pause between requests. */
export const LOAD = { timeoutMs: 1_000, maxAttempts: 8, thinkMs: 25 };
