/** Facts about the machine a measurement runs on, read once at its start (bench and capacity). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { machineBusyCores } from './cpu.ts';
import { haveWrk, WRK } from './http-load.ts';
import { ROOT } from './processes.ts';

export interface Machine {
  readonly date: string;
  readonly nproc: string;
  readonly memGiB: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly tools: string;
  readonly loadStart: string;
  /** Cores busy with other work just before the bench started (1 s sample). */
  readonly busyBefore: number;
}

// Read from node_modules directly: some packages do not export their package.json.
const pkgVersion = (name: string) => {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
};

/** Facts about this box, read once at start (the service versions come with the results). */
export async function machineFacts(): Promise<Machine> {
  const busyBefore = await machineBusyCores(1000);
  let nproc = String(availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch { /* keep node's count */ }
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  let wrk = 'not installed';
  if (haveWrk()) {
    try {
      execFileSync(WRK, ['-v'], { encoding: 'utf8' });
    } catch (err) {
      // wrk -v prints its version and exits 1.
      wrk = /wrk (\S+)/.exec(String((err as { stdout?: string }).stdout ?? ''))?.[1] ?? '?';
    }
  }
  return {
    date: new Date().toISOString(), nproc, memGiB: totalmem() / 2 ** 30, cpuModel, node: process.version,
    tools: `autocannon ${pkgVersion('autocannon')}, wrk ${wrk}, tinybench ${pkgVersion('tinybench')}, ` +
      `uWebSockets.js ${pkgVersion('uWebSockets.js')}`,
    loadStart: loadavg().map((l) => l.toFixed(2)).join(' / '), busyBefore,
  };
}
