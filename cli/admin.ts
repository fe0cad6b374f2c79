/**
 * `npm run admin -- templates list|show|create|pause|resume|topup|stats ...`: the admin API from
 * a terminal, at ADMIN_URL with ADMIN_TOKEN. Tables for people, `--json` for scripts. Exit 0 on
 * success, 1 when the API refused (its error and message on stderr) or could not be reached,
 * 2 on bad usage or configuration.
 */
import { loadConfig } from '../config/index.ts';
import { cliProgram } from './command-line.ts';
import { AdminApiError, AdminClient, AdminNetworkError } from './admin/client.ts';
import { addTemplatesCommand } from './admin/templates-command.ts';

/** Read on the first call only: `--help` and usage errors need no configuration. */
let client: AdminClient | undefined;
function adminClient(): AdminClient {
  if (client) return client;
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(`admin: configuration: ${(err as Error).message}`);
    process.exit(2);
  }
  return (client = new AdminClient(cfg.admin.url, cfg.adminToken));
}

const program = cliProgram('admin', 'Operator actions on the admin API (ADMIN_URL, ADMIN_TOKEN).');
addTemplatesCommand(program, adminClient);

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof AdminApiError || err instanceof AdminNetworkError) console.error(`admin: ${err.message}`);
  else console.error(`admin: failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
