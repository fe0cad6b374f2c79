/** GET /v1/admin/reminders?day=YYYY-MM-DD&cursor=&limit=: coupons still unused that expire that day (checkout/reminders.ts). */
import { ApiError, orUnavailable } from '../../core/errors.ts';
import { REMINDER_LIMIT_MAX, type ReminderStore } from '../../checkout/reminders.ts';
import { limitParam, queryParams } from '../http/query.ts';
import type { Handler } from '../http/route.ts';
import type { AdminDeps } from './admin.ts';

const PARAMS = new Set(['day', 'cursor', 'limit']);

/** The reminders handler: one page, 200 { reminders, nextCursor }. */
export function remindersHandler(d: AdminDeps, reminders: ReminderStore): Handler {
  return async (req) => {
    d.auth(req);
    const q = queryParams(req.query, PARAMS);
    const day = q.get('day');
    if (day === null) throw new ApiError('bad_request', 'day: is required (YYYY-MM-DD)');
    const limit = limitParam(q, 100, REMINDER_LIMIT_MAX);
    // `cursor=` (empty) is the first page, as the link template of the API shows it.
    const cursor = q.get('cursor') || undefined;
    // The store refuses a bad day or cursor before any query; orUnavailable passes its ApiError on.
    const page = await orUnavailable('mysql', () => reminders.page(day, cursor, limit, Date.now()));
    return { status: 200, body: page };
  };
}
