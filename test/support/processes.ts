/** Starts the real gateway and sink as child processes, the way `make run` does. */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { spawnNode } from '../../tools/harness/processes.ts';
import { findLog } from '../../tools/harness/log-lines.ts';

export interface Proc {
  readonly child: ChildProcess;
  /** What the process wrote so far (its last 64 KiB). */
  readonly log: () => string;
  /** SIGTERM (or the given signal), then waits for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns `node --import tsx <entry>` with the test's env on top of this process's env. */
export function spawnEntry(entry: string, env: Record<string, string>): Proc {
  const c = spawnNode(entry, entry, { ...process.env, ...env } as Record<string, string>);
  const child = c.proc;
  return {
    child,
    log: () => c.tail(),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

export interface GatewayProc extends Proc {
  readonly url: string;
}

/** Starts a gateway on a free port and resolves when it logs that it listens. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProc> {
  const p = spawnEntry('gateway/main.ts', { HOST: '127.0.0.1', PORT: '0', ...env });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const listening = findLog(p.log(), 'gateway listening');
    if (listening) return { ...p, url: `http://127.0.0.1:${listening.port}` };
    if (p.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await p.stop('SIGKILL');
  throw new Error(`gateway did not start:\n${p.log()}`);
}
