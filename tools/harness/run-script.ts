/**
 * Runs one of the project's bash scripts (scripts/services.sh, drill/*.sh) from a tool, bounded:
 * the scripts bound their own waits and signal only the processes their pid files name.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

/**
 * Runs `bash script ...args` in `root` with `env` added to this process's; its output is
 * appended to `logFile` when given; rejects with the output on failure or after `timeoutMs`.
 */
export function runScript(root: string, script: string, args: readonly string[], env: Readonly<Record<string, string>>,
  timeoutMs: number, logFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (b: Buffer) => { out += b.toString(); };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    // the script bounds its own waits; this only guards against a hang outside them.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (logFile) appendFileSync(logFile, `=== ${new Date().toISOString()} ${script} ${args.join(' ')}\n${out}`);
      if (code === 0) resolve();
      else reject(new Error(`${script} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out.trim()}`));
    });
  });
}
