/** The sink's INSERT literals are the ones mysql2 writes for the same values with the pools' settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escape, type SqlValue } from 'mysql2/promise';
import { DatetimeText, DayText, insertHead, numeric, quote, reminderHead, RowText } from '../../sink/insert-sql.ts';

// What mysql2 writes for one placeholder value on a pool with timezone 'Z' (core/mysql.ts).
const mysql2 = (v: SqlValue) => escape(v, false, 'Z');

test('strings: every escaped character, unicode, and the id fast path match mysql2', () => {
  const samples = ['', 'plain', "it's", 'back\\slash', '"double"', 'nul\0byte', 'tab\tnl\nret\r', 'ctrl-z\x1a',
    'bs\b', "\\'", "''", 'Grüße 🎟️ 50% off', '满100减20', 'emoji at end 👍', 'trailing space ', '\u2028\u2029',
    '%_?', '`backtick`', '-- comment', '/* c */', "x' OR '1'='1"];
  for (const s of samples) assert.equal(quote(s), mysql2(s), JSON.stringify(s));
  // every printable ASCII character alone and in a longer id
  for (let c = 0x20; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(quote(ch), mysql2(ch));
    assert.equal(quote(`u-${ch}${ch}-1`), mysql2(`u-${ch}${ch}-1`));
  }
});

test('numbers of the money columns match mysql2, big values read as strings included', () => {
  for (const v of [0, 1, 500, 2 ** 53 - 1, '9007199254740993', '18446744073709551615', null]) {
    assert.equal(numeric(v), mysql2(v), String(v));
  }
});

test('timestamps match mysql2 for a Date with timezone Z, across hours, years and edges', () => {
  const d = new DatetimeText();
  const times = [0, 1, 999, 1000, 59_999, 60_000, 3_599_999, 3_600_000, Date.UTC(2026, 11, 4, 21, 28, 21, 698),
    Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(9999, 11, 31), Date.UTC(9999, 11, 31) + 30 * 86_400_000,
    Date.UTC(999, 0, 1, 1, 2, 3, 4), Date.parse('0099-06-01T00:00:00.010Z'), -1, -3_600_001,
    Date.UTC(-5, 0, 1), 8.64e15, -8.64e15, 8.64e15 + 1, NaN];
  // a walk of uneven steps (0 to 25 h) over decades, so the cached hour prefix is reused and replaced
  for (let i = 0, t = Date.UTC(1990, 0, 1); i < 20_000; i++) times.push((t += (i * 7919) % 90_000_000));
  for (const ms of times) assert.equal(d.literal(ms), mysql2(new Date(ms)), `${ms}`);
});

test('a row lists its values in the order of the statement head, the use window relative or fixed', () => {
  const rt = new RowText();
  const claimed = Date.UTC(2026, 11, 4, 21, 28, 21, 698);
  const base = { id: "tpl'1", name: 'Spend 30 \\ get 5 \u{1F39F}', type: 'threshold', value: 500, threshold: 3000, maxDiscount: null };
  const relative = rt.template({ ...base, validFrom: null, validTo: null, validDays: 7 });
  const from = new Date(Date.UTC(2027, 0, 1));
  const to = new Date(Date.UTC(2027, 1, 1, 12));
  const fixed = rt.template({ ...base, validFrom: from, validTo: to, validDays: null });
  const expect = (validFrom: Date, validTo: Date, amount: number | null = null) => `(${['0.1.2.3', 'user\\1', 'req-1', '1733-0', amount,
    new Date(claimed), validFrom, validTo, "tpl'1", base.name, 'threshold', 500, 3000, null].map(mysql2).join(',')})`;
  assert.equal(rt.row('0.1.2.3', 'user\\1', 'req-1', '1733-0', null, claimed, relative),
    expect(new Date(claimed), new Date(claimed + 7 * 86_400_000)));
  assert.equal(rt.row('0.1.2.3', 'user\\1', 'req-1', '1733-0', null, claimed, fixed), expect(from, to));
  // a red packet's drawn amount
  assert.equal(rt.row('0.1.2.3', 'user\\1', 'req-1', '1733-0', 123_456_789_012, claimed, fixed), expect(from, to, 123_456_789_012));
  assert.equal(insertHead('`d`.`t`'), 'INSERT INTO `d`.`t` (`coupon_id`,`user_id`,`request_id`,`stream_id`,`amount`,`claimed_at`,' +
    '`valid_from`,`valid_to`,`template_id`,`name`,`type`,`value`,`threshold`,`max_discount`) VALUES ');
});

test('a day literal is the date part of the UTC timestamp mysql2 writes, across days, years and edges', () => {
  const d = new DayText();
  const times = [0, 1, 86_399_999, 86_400_000, Date.UTC(2027, 0, 2), Date.UTC(2027, 0, 2) - 1, Date.UTC(2027, 0, 2, 23, 59, 59, 999),
    Date.UTC(2024, 1, 29, 12), Date.UTC(2100, 1, 28, 23), Date.UTC(9999, 11, 31, 23), Date.UTC(999, 0, 1), -1, -86_400_001,
    Date.UTC(-5, 0, 1), 8.64e15, -8.64e15];
  for (let i = 0, t = Date.UTC(1990, 0, 1); i < 20_000; i++) times.push((t += (i * 7919) % 90_000_000));
  for (const ms of times) assert.equal(d.literal(ms), `${mysql2(new Date(ms)).split(' ')[0]}'`, `${ms}`);
  for (const ms of [8.64e15 + 1, NaN]) assert.equal(d.literal(ms), 'NULL');
});

test('a reminder row files the coupon under the UTC day of its valid_to, relative or fixed', () => {
  const rt = new RowText();
  const base = { id: 't', name: 'n', type: 'direct', value: 1, threshold: null, maxDiscount: null };
  const relative = rt.template({ ...base, validFrom: null, validTo: null, validDays: 2 });
  const fixed = rt.template({ ...base, validFrom: new Date(Date.UTC(2027, 0, 1)), validTo: new Date(Date.UTC(2027, 0, 2, 23, 59, 59, 999)),
    validDays: null });
  // claimed 22:30 on 2026-12-31: two days later is 2027-01-02, past midnight of the claim's day + 2
  const claimed = Date.UTC(2026, 11, 31, 22, 30);
  assert.equal(rt.reminder("0.1.2.3'", claimed, relative), "('2027-01-02','0.1.2.3\\'')");
  assert.equal(rt.reminder('0.1.2.4', claimed, fixed), "('2027-01-02','0.1.2.4')");
  assert.equal(reminderHead('`d`.`r`'), 'INSERT INTO `d`.`r` (`expire_day`,`coupon_id`) VALUES ');
});
