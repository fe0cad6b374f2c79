/** The lines a gateway logs once it serves; scripts/lib/app.sh, tests and tools wait for "gateway listening". */
import type { Config } from '../config/index.ts';
import { log } from '../core/log.ts';

/** Logs that the gateway (one process, or the supervisor of its workers) serves on `port`. */
export function logListening(cfg: Config, port: number, adminPort: number | undefined, fields: Record<string, unknown> = {}): void {
  // "gateway listening" comes last: whoever waits for it can read the lines before it at once.
  if (adminPort !== undefined) log('info', 'admin listening', { url: `http://${cfg.admin.host}:${adminPort}`, port: adminPort });
  if (cfg.admin.routes === 'off') log('info', 'admin routes are off on this gateway');
  if (cfg.userTokenSecrets.length > 0) log('info', 'claims and listings require signed user tokens');
  log('info', 'gateway listening', { url: `http://${cfg.http.host}:${port}`, port, ...fields });
}
