/**
 * `npm run reminders -- --day 2027-01-02 [--limit N]`: every coupon still unused that expires on
 * that UTC day, one JSON object a line on stdout (couponId, userId, templateId, name, validTo),
 * for a notification service. Reads the shard databases directly, a page of N at a time (default
 * 1000). Exit 0 when done, 2 on bad arguments, 1 when MySQL fails.
 */
import { once } from 'node:events';
import { ReminderStore, REMINDER_LIMIT_MAX } from '../checkout/reminders.ts';
import { loadConfig } from '../config/index.ts';
import { ApiError } from '../core/errors.ts';
import { openMysql } from '../core/mysql.ts';
import { cliProgram, intArg } from './command-line.ts';
import { initLog, log } from '../core/log.ts';

const program = cliProgram('reminders', 'Every coupon still unused that expires on a UTC day, one JSON object a line.')
  .requiredOption('--day <YYYY-MM-DD>', 'the UTC day the coupons expire on')
  .option('--limit <n>', `coupons read per page (1-${REMINDER_LIMIT_MAX})`, intArg(1, REMINDER_LIMIT_MAX), REMINDER_LIMIT_MAX)
  .parse();
const { day, limit } = program.opts<{ day: string; limit: number }>();

const cfg = loadConfig();
initLog('reminders', cfg.log.level);
const mysql = openMysql(cfg.mysql);
const store = new ReminderStore(mysql, cfg.mysql);
// One `now` for the whole walk: a coupon is judged the same way whichever page it falls on.
const now = Date.now();
let code = 0;
try {
  let cursor: string | undefined;
  do {
    const page = await store.page(day, cursor, limit, now);
    const text = page.reminders.map((r) => `${JSON.stringify(r)}\n`).join('');
    if (text !== '' && !process.stdout.write(text)) await once(process.stdout, 'drain');
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
} catch (err) {
  if (err instanceof ApiError && err.code === 'bad_request') {
    console.error(`reminders: ${err.message}\n\n${program.helpInformation()}`);
    code = 2;
  } else {
    log('error', 'reading MySQL failed', { err });
    code = 1;
  }
} finally {
  await mysql.close();
}
process.exitCode = code;
