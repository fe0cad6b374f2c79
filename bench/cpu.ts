/**
 * CPU time of the processes sharing the 2 cores during a run (from /proc/<pid>/stat), so the
 * report can say who used the CPU, not just how fast the claim path was.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

/** User+system CPU seconds of a process so far; NaN when it cannot be read. */
export function cpuSeconds(pid: number): number {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may contain spaces: fields are counted after the closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clkTck();
  } catch {
    return NaN;
  }
}

export interface CpuShare {
  readonly name: string;
  /** CPU seconds per wall second: 1.0 = one full core. */
  readonly cores: number;
  readonly cpuS: number;
}

/** Samples the named pids now; `finish()` returns each one's cores used since. */
export function cpuMeter(pids: Readonly<Record<string, number | undefined>>): { finish(): CpuShare[] } {
  const t0 = performance.now();
  const start = Object.entries(pids).map(([name, pid]) => ({ name, pid, cpu: pid ? cpuSeconds(pid) : NaN }));
  return {
    finish: () => {
      const wall = (performance.now() - t0) / 1000;
      return start.map(({ name, pid, cpu }) => {
        const used = pid ? cpuSeconds(pid) - cpu : NaN;
        return { name, cpuS: used, cores: used / wall };
      });
    },
  };
}
