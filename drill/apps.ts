/**
 * The drill's gateways and sinks: real `node --import tsx <entry>` child processes on the
 * drill's storage. Each writes a pid file (drill/services.sh apps-down stops leftovers of a
 * drill that died) and its output to its own log under .data/drill/log.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Child, spawnNode, waitForLog } from '../tools/harness/processes.ts';

export interface AppSpec {
  /** e.g. gateway-0, sink-1 (also names the log and pid files). */
  readonly name: string;
  readonly entry: 'gateway/main.ts' | 'sink/main.ts';
  readonly env: Readonly<Record<string, string>>;
  /** The message of the log line that says the process is serving. */
  readonly ready: string;
  /** The ready line's `url` is a base URL: the process is ready once its /healthz answers 200 (the sink). */
  readonly healthz?: boolean;
}

export interface AppDirs {
  readonly logDir: string;
  readonly runDir: string;
}

const READY_TIMEOUT_MS = 30_000;

export class AppProcess {
  private child: ChildProcess | undefined;
  private readonly log: WriteStream;

  constructor(readonly spec: AppSpec, private readonly dirs: AppDirs) {
    this.log = createWriteStream(`${dirs.logDir}/${spec.name}.log`, { flags: 'a' });
  }

  private get pidFile(): string { return `${this.dirs.runDir}/app-${this.spec.name}.pid`; }

  /** Pid of the running process, if any. */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Spawns the process and resolves once it logs its ready line; rejects if it exits first. */
  async start(): Promise<void> {
    if (this.pid !== undefined) throw new Error(`${this.spec.name} is already running`);
    this.log.write(`=== ${new Date().toISOString()} start ${this.spec.entry}\n`);
    // Own process group: a Ctrl-C at the terminal reaches the drill, which stops them in order.
    const c: Child = spawnNode(this.spec.name, this.spec.entry, { ...process.env, ...this.spec.env } as Record<string, string>,
      { detached: true });
    this.child = c.proc;
    c.proc.stdout!.on('data', (b: Buffer) => this.log.write(b));
    c.proc.stderr!.on('data', (b: Buffer) => this.log.write(b));
    if (c.proc.pid !== undefined) writeFileSync(this.pidFile, `${c.proc.pid}\n`);
    const started = Date.now();
    const line = await waitForLog(c, this.spec.ready, READY_TIMEOUT_MS);
    if (this.spec.healthz) await this.waitHealthy(`${String(line.url)}/healthz`, started + READY_TIMEOUT_MS);
  }

  /** Polls `url` until it answers 200; throws at `deadline` or when the process exits. */
  private async waitHealthy(url: string, deadline: number): Promise<void> {
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.pid === undefined) throw new Error(`${this.spec.name} exited before ${url} answered 200`);
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        if (r.ok) return;
        last = `status ${r.status}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(`${this.spec.name}: ${url} did not answer 200 within ${READY_TIMEOUT_MS} ms (last: ${last})`);
  }

  /** SIGKILL (the fault); resolves once the process is gone. */
  async kill9(): Promise<void> {
    await this.signalAndWait('SIGKILL', 10_000);
  }

  /** SIGSTOP freezes the process (its connections stay open, its timers stand still); SIGCONT wakes it. */
  freeze(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.pid !== undefined) this.child!.kill(sig);
  }

  /** SIGTERM and up to `graceMs` for a clean exit, then SIGKILL. */
  async stop(graceMs: number): Promise<void> {
    if (!(await this.signalAndWait('SIGTERM', graceMs))) await this.signalAndWait('SIGKILL', 10_000);
  }

  /** Sends `signal`; true when the process exited within `waitMs` (or was not running). */
  private async signalAndWait(signal: NodeJS.Signals, waitMs: number): Promise<boolean> {
    const child = this.child;
    if (!child || this.pid === undefined) return true;
    const exited = once(child, 'exit').then(() => true);
    child.kill(signal);
    const done = await Promise.race([exited, sleep(waitMs).then(() => false)]);
    if (done) rmSync(this.pidFile, { force: true });
    return done;
  }

  /** Closes the log file (after the process is stopped). */
  close(): void {
    this.log.end();
  }
}
