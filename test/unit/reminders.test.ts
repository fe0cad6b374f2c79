/** The reminder listing's inputs: a day must be a calendar date, a cursor must name a coupon of the layout. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCursor, encodeCursor, parseDay } from '../../checkout/reminders.ts';
import { ApiError } from '../../core/errors.ts';

const refused = (f: () => unknown, field: string) => assert.throws(f, (err: unknown) =>
  err instanceof ApiError && err.code === 'bad_request' && err.message.startsWith(`${field}: `));

test('a day is a real calendar date, read as its UTC midnight', () => {
  assert.equal(parseDay('2027-01-02'), Date.UTC(2027, 0, 2));
  assert.equal(parseDay('2028-02-29'), Date.UTC(2028, 1, 29));
  for (const bad of ['2027-02-30', '2027-02-29', '2027-13-01', '2027-00-10', '2027-1-2', '2027-01-02T00:00:00Z', '', 'tomorrow', ' 2027-01-02']) {
    refused(() => parseDay(bad), 'day');
  }
});

test('a cursor round-trips its coupon id and shard; anything else is refused', () => {
  const layout = { dbs: 2, tables: 4 };
  assert.deepEqual(decodeCursor(layout, encodeCursor('1.2.5.77')), { after: '1.2.5.77', shard: 6 });
  for (const bad of ['', '!!!', encodeCursor('2.0.0.1'), encodeCursor('0.4.0.1'), encodeCursor('not-a-coupon'),
    `${encodeCursor('0.1.0.1')}=`, `${encodeCursor('0.1.0.1')}.`]) {
    refused(() => decodeCursor(layout, bad), 'cursor');
  }
});
