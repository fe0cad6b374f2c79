/**
 * Child processes of the tools and tests (gateway, sink, hello server, wrk). Each is tracked by its
 * ChildProcess handle so cleanup, even on Ctrl-C, stops exactly what was started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { findLog, type LogRecord } from './log-lines.ts';

/** The repository root (with a trailing slash): children run there. */
export const ROOT = new URL('../../', import.meta.url).pathname;

// Enough of a child's output to explain a failure, without growing for a whole run.
const TAIL_BYTES = 64 * 1024;

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Last ~64 KiB of stdout+stderr. */
  tail(): string;
  /** Full stdout (wrk's report); kept only when asked for. */
  stdout(): string;
  readonly exited: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Child>();

export interface SpawnOptions {
  /** Keep the whole stdout (wrk's report). */
  readonly keepStdout?: boolean;
  /** Its own process group: a Ctrl-C at the terminal reaches only the tool, which stops it in order. */
  readonly detached?: boolean;
  /** Node children: write V8 CPU profiles here (--cpu-prof). */
  readonly profileDir?: string;
}

/** Spawns a program with exactly `env` (built from the config, not inherited wholesale). */
export function spawnChild(name: string, cmd: string, args: readonly string[], env: Record<string, string>,
  o: SpawnOptions = {}): Child {
  const keepStdout = o.keepStdout ?? false;
  const proc = spawn(cmd, [...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: o.detached ?? false });
  let tail = '';
  let out = '';
  const add = (b: Buffer) => {
    tail += b.toString();
    if (tail.length > TAIL_BYTES) tail = tail.slice(-TAIL_BYTES);
  };
  proc.stdout!.on('data', (b: Buffer) => {
    add(b);
    if (keepStdout) out += b.toString();
  });
  proc.stderr!.on('data', add);
  proc.on('error', (err) => add(Buffer.from(`\n[spawn error: ${err.message}]\n`)));
  const gone = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const exited = () => proc.exitCode !== null || proc.signalCode !== null;
  const child: Child = {
    name, proc,
    tail: () => tail,
    stdout: () => out,
    get exited() { return exited(); },
    stop: async (graceMs = 5_000) => {
      if (!exited()) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => { if (!exited()) proc.kill('SIGKILL'); }, graceMs);
        await gone;
        clearTimeout(timer);
      }
      live.delete(child);
    },
  };
  live.add(child);
  void gone.then(() => live.delete(child));
  return child;
}

/** Spawns `node --import tsx <entry>` (a TypeScript entry point of this repo). */
export function spawnNode(name: string, entry: string, env: Record<string, string>, o: SpawnOptions = {}): Child {
  // one directory per process: node writes one profile per thread (tsx's loader has its own).
  const prof = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}/${name}`] : [];
  return spawnChild(name, process.execPath, [...prof, '--import', 'tsx', entry], env, o);
}

/** Waits until the child's output matches `re`; throws with its output on exit or timeout. */
export async function waitForOutput(c: Child, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = re.exec(c.tail());
    if (m) return m;
    if (c.exited) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await c.stop(1_000);
  throw new Error(`${c.name} did not report ${re} within ${timeoutMs} ms; its output:\n${c.tail().slice(-4000)}`);
}

/** Waits until the child logs a line with message `msg` (log-lines.ts); throws with its output on exit or timeout. */
export async function waitForLog(c: Child, msg: string, timeoutMs: number): Promise<LogRecord> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = findLog(c.tail(), msg);
    if (r) return r;
    if (c.exited) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  await c.stop(1_000);
  throw new Error(`${c.name} did not log "${msg}" within ${timeoutMs} ms; its output:\n${c.tail().slice(-4000)}`);
}

/** Waits for a child to exit by itself (wrk), killing it after `timeoutMs`; returns the exit code. */
export async function waitExit(c: Child, timeoutMs: number): Promise<number | null> {
  if (!c.exited) {
    const timer = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs);
    await once(c.proc, 'close');
    clearTimeout(timer);
  }
  return c.proc.exitCode;
}

/** Stops every child still running (Ctrl-C and failure paths). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...live].map((c) => c.stop(3_000)));
}
