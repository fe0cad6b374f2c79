/**
 * Gateway process: boot, log where it listens, drain on SIGTERM/SIGINT. With GATEWAY_WORKERS > 1
 * the process started by hand supervises that many workers (workers.ts), each of which runs
 * this file again as one gateway of several.
 */
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.ts';
import { startGateway } from './app.ts';
import { logListening } from './listening.ts';
import { gatewayStartupChecks } from './startup-checks.ts';
import { Supervisor, type WorkerReady } from './workers.ts';
import { log } from '../core/log.ts';

process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', { err }));

/**
 * On the first SIGTERM/SIGINT: `stop`, then exit 0 (1 if stopping failed); returns that shutdown.
 * `who` goes on its log lines (which worker, when there are several).
 */
function stopOnSignals(stop: () => Promise<void>, who: Record<string, unknown>): (why: string) => void {
  let stopping = false;
  const shutdown = (why: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'draining', { signal: why, ...who });
    stop().then(() => {
      log('info', 'stopped', who);
      process.exit(0);
    }, (err) => {
      log('error', 'shutdown failed', { err, ...who });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return shutdown;
}

try {
  const cfg = loadConfig();
  const worker = cfg.workers.index;
  const verdict = gatewayStartupChecks(cfg);
  if (verdict.errors.length > 0) throw new Error(verdict.errors.join('; '));
  if (worker === undefined) for (const w of verdict.warnings) log('warn', w);
  if (worker === undefined && cfg.workers.count > 1) {
    const supervisor = new Supervisor(cfg, fileURLToPath(import.meta.url));
    // A signal before all workers listen ends this process at once (nothing is served yet);
    // the workers see their channel close and exit.
    await supervisor.start();
    stopOnSignals(() => supervisor.stop(), { workers: cfg.workers.count });
  } else {
    // A worker whose supervisor is gone (killed with SIGKILL) has nobody to stop it: it stops
    // itself; before it serves there is nothing to drain.
    const orphaned = () => process.exit(0);
    if (worker !== undefined) process.once('disconnect', orphaned);
    const gw = await startGateway(cfg);
    if (worker === undefined) logListening(cfg, gw.port, gw.adminPort);
    else {
      log('info', 'gateway worker listening', { worker, port: gw.port, pid: process.pid });
      const ready: WorkerReady = { listening: { port: gw.port, adminPort: gw.adminPort } };
      process.send?.(ready);
    }
    const shutdown = stopOnSignals(() => gw.stop(), worker === undefined ? {} : { worker, pid: process.pid });
    if (worker !== undefined) {
      process.off('disconnect', orphaned);
      process.once('disconnect', () => shutdown('supervisor gone'));
    }
  }
} catch (err) {
  log('error', 'gateway failed to start', { err });
  process.exit(1);
}
