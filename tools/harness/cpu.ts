/**
 * CPU time of the processes sharing the 2 cores during a run (from /proc/<pid>/stat), so the
 * report can say who used the CPU, not just how fast the claim path was.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clkTck(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name may contain spaces: fields are counted after the closing parenthesis.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** User+system CPU seconds of a process so far; NaN when it cannot be read. */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const f = statFields(pid);
    return (Number(f[11]) + Number(f[12])) / clkTck();
  } catch {
    return NaN;
  }
}

/** The pids of a process's children (those of all its threads). */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter((x) => x !== '').map(Number));
  } catch {
    return [];
  }
}

/**
 * User+system CPU seconds of a process and everything under it: its live descendants and the
 * children it has reaped (a gateway supervisor's workers, a restarted one included); NaN when
 * the process cannot be read.
 */
function treeCpuSeconds(pid: number): number {
  try {
    const f = statFields(pid);
    const own = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clkTck();
    // a child that exits meanwhile reads as 0 here, and its time moves to its parent once reaped.
    return own + childPids(pid).reduce((sum, c) => sum + (treeCpuSeconds(c) || 0), 0);
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process's children that have exited and been reaped (wrk). */
function reapedChildrenSeconds(): number {
  const f = statFields('self');
  return (Number(f[13]) + Number(f[14])) / clkTck();
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / clkTck();
}

export interface CpuShare {
  readonly name: string;
  /** CPU seconds per wall second: 1.0 = one full core. */
  readonly cores: number;
  readonly cpuS: number;
}

/** The whole machine's row name: everything, including processes that are not ours. */
export const MACHINE = 'whole machine (/proc/stat)';

/** A process to meter: its pid, or `{ tree }` for it and all its descendants (a supervisor and its workers). */
export type Metered = number | undefined | { readonly tree: number | undefined };

/**
 * Samples the named pids (and the whole machine) now; `finish()` returns each one's cores used
 * since. `reapedLabel` names a row for children that exit during the interval (wrk).
 */
export function cpuMeter(pids: Readonly<Record<string, Metered>>, reapedLabel?: string): { finish(): CpuShare[] } {
  const t0 = performance.now();
  const read = (p: Metered) => (typeof p === 'object' ? (p.tree ? treeCpuSeconds(p.tree) : NaN) : p ? cpuSeconds(p) : NaN);
  const readers: [string, () => number][] = Object.entries(pids).map(([name, p]) => [name, () => read(p)]);
  if (reapedLabel) readers.push([reapedLabel, reapedChildrenSeconds]);
  readers.push([MACHINE, machineBusySeconds]);
  const start = readers.map(([, read]) => read());
  return {
    finish: () => {
      const wall = (performance.now() - t0) / 1000;
      return readers.map(([name, read], i) => {
        const used = read() - start[i]!;
        return { name, cpuS: used, cores: used / wall };
      });
    },
  };
}

/** Cores the whole machine keeps busy over `ms` (others' work, when the bench itself is idle). */
export async function machineBusyCores(ms: number): Promise<number> {
  const m = cpuMeter({});
  await new Promise((r) => setTimeout(r, ms));
  return m.finish().find((x) => x.name === MACHINE)!.cores;
}
