/**
 * GATEWAY_WORKERS > 1: this process supervises N gateway workers. Each is gateway/main.ts again,
 * a whole gateway with its own template cache, token buckets (1/N of the rates,
 * worker-share.ts) and stats flush, and all of them listen on the one port: uSockets sets
 * SO_REUSEPORT on the listen socket of any non-zero port, so the kernel spreads new connections
 * over the workers' sockets (node:cluster would add nothing: uWS listens natively, outside
 * cluster's handle sharing). The supervisor never touches Redis or MySQL. It starts the workers,
 * passes SIGTERM/SIGINT on to each and waits for their drain, and restarts a worker that dies,
 * later and later while it keeps dying, so a crash loop cannot spin.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { type Config, workerEnv } from '../config/index.ts';
import { freePort } from '../core/ports.ts';
import { log } from '../core/log.ts';
import { logListening } from './listening.ts';
import { MetricsGatherer } from './metrics/worker-scrape.ts';

/** What a worker sends the supervisor once it listens. */
export interface WorkerReady {
  readonly listening: { readonly port: number; readonly adminPort: number | undefined };
}

// A dead worker is started again after 1 s, twice as late each time it dies again, at most 30 s
// (a crash loop costs one start per 30 s); one that ran a minute counts as healthy again.
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 60_000;
// On shutdown a worker drains for up to SHUTDOWN_GRACE_MS, then closes its storage in well under
// a second; one still running this much later is hung, and is killed rather than left behind.
const STOP_MARGIN_MS = 3_000;

/** Delay before restarting a worker that died `failures` times in a row (1, 2, ...). */
export function restartDelayMs(failures: number): number {
  return Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** Math.max(0, failures - 1));
}

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  /** Deaths in a row, each within STABLE_MS of its start. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

const gone = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

export class Supervisor {
  private readonly slots: Slot[];
  /** Workers that said they listen: only these have requests to drain. */
  private readonly serving = new WeakSet<ChildProcess>();
  private port = 0;
  private started = false;
  private stopping = false;
  // a scrape of one worker answers for all that serve.
  private readonly metrics = new MetricsGatherer(() =>
    this.slots.flatMap((s) => (s.child && this.serving.has(s.child) ? [s.child] : [])));

  /** `entry`: the gateway's main module, which each worker runs. */
  constructor(private readonly cfg: Config, private readonly entry: string) {
    this.slots = Array.from({ length: cfg.workers.count },
      (_, index) => ({ index, child: undefined, startedAt: 0, failures: 0, restart: undefined }));
  }

  /** Starts every worker; resolves once all listen (and logs "gateway listening"), throws if one fails to start. */
  async start(): Promise<void> {
    // Port 0 asks the kernel for a free port; only a concrete one can be shared, so pick it here.
    this.port = this.cfg.http.port || await freePort(this.cfg.http.host);
    let ready: WorkerReady['listening'][];
    try {
      ready = await Promise.all(this.slots.map((s) => this.spawn(s)));
    } catch (err) {
      // A worker that cannot start (bad layout, storage away) is not restarted: nothing would change.
      await this.stop().catch(() => undefined);
      throw err;
    }
    this.started = true;
    logListening(this.cfg, this.port, ready[0]!.adminPort,
      { workers: this.slots.length, workerPids: this.slots.map((s) => s.child?.pid) });
  }

  /** SIGTERM to every worker, then waits until all drained and exited; throws if one that served did not exit 0. */
  async stop(): Promise<void> {
    this.stopping = true;
    const live: ChildProcess[] = [];
    for (const s of this.slots) {
      clearTimeout(s.restart);
      if (s.child && !gone(s.child)) live.push(s.child);
    }
    const exits = live.map((c) => new Promise((resolve) => c.once('exit', resolve)));
    for (const c of live) c.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const c of live.filter((x) => !gone(x))) {
        log('error', 'gateway worker still running after its shutdown grace, killing it', { workerPid: c.pid });
        c.kill('SIGKILL');
      }
    }, this.cfg.http.shutdownGraceMs + STOP_MARGIN_MS);
    await Promise.all(exits);
    clearTimeout(killer);
    // One still starting dies of the SIGTERM (it handles signals once it serves): it lost nothing.
    const bad = live.filter((c) => this.serving.has(c) && c.exitCode !== 0).map((c) => `${c.pid} (code ${c.exitCode}, signal ${c.signalCode})`);
    if (bad.length > 0) throw new Error(`gateway workers did not stop cleanly: ${bad.join(', ')}`);
  }

  /** Forks the slot's worker; resolves with what it listens on, rejects if it exits first. */
  private spawn(slot: Slot): Promise<WorkerReady['listening']> {
    const child = fork(this.entry, [], { env: workerEnv(slot.index, this.port), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.startedAt = Date.now();
    return new Promise((resolve, reject) => {
      child.on('message', (m: Partial<WorkerReady>) => {
        if (this.metrics.handle(child, m) || !m.listening) return;
        this.serving.add(child);
        resolve(m.listening);
      });
      child.once('error', (err) => log('error', 'gateway worker process error', { worker: slot.index, workerPid: child.pid, err }));
      child.once('exit', (code, signal) => {
        reject(new Error(`gateway worker ${slot.index} exited (code ${code}, signal ${signal}) before it listened`));
        this.exited(slot, child, code, signal);
      });
    });
  }

  private exited(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child === child) slot.child = undefined;
    // stop() waits for this exit itself; one that never listened while start() runs fails the
    // start (the rejection of spawn()). One that listened and died is restarted, even then.
    if (this.stopping || (!this.started && !this.serving.has(child))) return;
    const ranMs = Date.now() - slot.startedAt;
    slot.failures = ranMs >= STABLE_MS ? 1 : slot.failures + 1;
    const restartInMs = restartDelayMs(slot.failures);
    log('error', 'gateway worker died, restarting it', { worker: slot.index, workerPid: child.pid, code, signal, ranMs, restartInMs });
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      // A worker that fails to start exits, and exited() schedules the next try.
      this.spawn(slot).catch(() => undefined);
    }, restartInMs);
  }
}
