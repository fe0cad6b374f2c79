/** Gateway process: boot, log where it listens, drain on SIGTERM/SIGINT. */
import { loadConfig } from '../config/index.ts';
import { startGateway } from './app.ts';
import { log } from '../core/log.ts';

process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', { err }));

try {
  const cfg = loadConfig();
  if (cfg.adminTokenIsDefault) {
    if (cfg.appEnv === 'production') throw new Error('ADMIN_TOKEN is required outside local runs (APP_ENV=local uses a dev token)');
    log('warn', 'ADMIN_TOKEN is not set: using the local dev token "dev-admin-token"');
  }
  const gw = await startGateway(cfg);
  log('info', 'gateway listening', { url: `http://${cfg.http.host}:${gw.port}`, port: gw.port, pid: process.pid });
  if (gw.adminPort !== undefined) log('info', 'admin listening', { url: `http://${cfg.admin.host}:${gw.adminPort}`, port: gw.adminPort });
  if (cfg.admin.routes === 'off') log('info', 'admin routes are off on this gateway');
  if (cfg.userTokenSecrets.length > 0) log('info', 'claims and listings require signed user tokens');
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'draining', { signal });
    gw.stop().then(() => {
      log('info', 'stopped');
      process.exit(0);
    }, (err) => {
      log('error', 'shutdown failed', { err });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  log('error', 'gateway failed to start', { err });
  process.exit(1);
}
