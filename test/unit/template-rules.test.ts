/** Template rules: every field and every bad combination gets a 400 naming the field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { ALL_PRODUCTS } from '../../templates/model.ts';
import { parsePatch, parseTemplate } from '../../templates/rules.ts';
import { templateFixture } from '../../tools/harness/template-fixture.ts';

const NOW = Date.UTC(2026, 10, 22, 12);
const D = { partitions: 16, defaultValidDays: 30, audienceMax: 5 };
const iso = (ms: number) => new Date(ms).toISOString();
const DAY = 86_400_000;
const base = { name: 'Rain', type: 'direct', value: 500, totalStock: 1000 };

const create = (over: Record<string, unknown>) => parseTemplate({ ...base, ...over }, D, NOW);

/** Asserts a 400 whose message starts with `field:` (and matches `why` when given). */
function refuses(f: () => unknown, field: string, why?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.code, 'bad_request');
    assert.ok(e.message.startsWith(`${field}: `), `message "${e.message}" should name ${field}`);
    if (why) assert.match(e.message, why);
    return true;
  });
}

test('a minimal template gets the documented defaults', () => {
  const t = create({});
  assert.match(t.id, /^t_[A-Za-z0-9_]+$/);
  assert.deepEqual(
    { limit: t.perUserLimit, days: t.validDays, from: t.validFrom, to: t.validTo, scope: t.scope, stackable: t.stackable,
      audience: t.audience, status: t.status, version: t.version, subs: t.subStocks },
    { limit: 1, days: 30, from: null, to: null, scope: ALL_PRODUCTS, stackable: false, audience: null, status: 'active',
      version: 1, subs: 1 });
});

test('money rules per type', () => {
  refuses(() => create({ type: 'coupon' }), 'type');
  refuses(() => create({ value: undefined }), 'value', /required/);
  refuses(() => create({ value: 0 }), 'value');
  refuses(() => create({ value: 1.5 }), 'value', /integer/);
  refuses(() => create({ value: '500' }), 'value', /integer/);
  refuses(() => create({ type: 'discount', value: 100 }), 'value', /between 1 and 99/);
  refuses(() => create({ type: 'threshold' }), 'threshold', /required/);
  refuses(() => create({ type: 'threshold', value: 600, threshold: 500 }), 'value', /exceed threshold/);
  refuses(() => create({ threshold: 1000 }), 'threshold', /not allowed for type direct/);
  refuses(() => create({ type: 'threshold', threshold: 1000, maxDiscount: 10 }), 'maxDiscount');
  const d = create({ type: 'discount', value: 15, threshold: 5000, maxDiscount: 2000 });
  assert.deepEqual([d.value, d.threshold, d.maxDiscount], [15, 5000, 2000]);
});

test('stock, limit and layout bounds', () => {
  refuses(() => create({ totalStock: undefined }), 'totalStock', /required/);
  refuses(() => create({ totalStock: 0 }), 'totalStock');
  refuses(() => create({ perUserLimit: 0 }), 'perUserLimit');
  refuses(() => create({ perUserLimit: 101 }), 'perUserLimit');
  refuses(() => create({ totalStock: 3, subStocks: 4 }), 'subStocks', /between 1 and 3/);
  refuses(() => create({ subStocks: 17 }), 'subStocks', /between 1 and 16/);
  assert.equal(create({ perUserLimit: 3 }).perUserLimit, 3);
});

test('identity and name', () => {
  refuses(() => create({ id: 'has space' }), 'id');
  refuses(() => create({ id: 'x'.repeat(65) }), 'id');
  refuses(() => create({ name: '  ' }), 'name');
  refuses(() => create({ name: 'x'.repeat(201) }), 'name');
  refuses(() => create({ name: 'a\u0000b' }), 'name', /control/);
  refuses(() => create({ colour: 'red' }), 'colour', /unknown field/);
  refuses(() => parseTemplate([], D, NOW), 'body');
  assert.equal(create({ name: ' 红包雨 ' }).name, '红包雨');
  // MySQL's utf8mb4 cannot hold half a surrogate pair: the driver would store U+FFFD instead.
  for (const bad of ['\ud800', 'a\udfff', '\ude00\ud83d', 'x\ud83d']) {
    refuses(() => create({ name: bad }), 'name', /surrogate/);
    refuses(() => parsePatch({ name: bad }, D), 'name', /surrogate/);
  }
  assert.equal(create({ name: 'rain \u{1f327}' }).name, 'rain \ud83c\udf27');
});

test('claim window', () => {
  refuses(() => create({ claimStart: 'tomorrow' }), 'claimStart', /ISO 8601/);
  refuses(() => create({ claimStart: '1999-12-31T00:00:00Z' }), 'claimStart', /2000 and 2100/);
  refuses(() => create({ claimStart: iso(NOW + DAY), claimEnd: iso(NOW + DAY) }), 'claimEnd', /after claimStart/);
  const t = create({ claimStart: iso(NOW), claimEnd: iso(NOW + DAY) });
  assert.deepEqual([t.claimStart, t.claimEnd], [NOW, NOW + DAY]);
});

test('a date that is not on the calendar is refused in every date field, not rolled into the next month', () => {
  const fixed = { claimEnd: '2029-01-01T00:00:00Z', validFrom: '2028-12-01T00:00:00Z', validTo: '2031-01-01T00:00:00Z' };
  for (const day of ['2030-02-30', '2030-02-31', '2029-02-29', '2100-02-29', '2030-04-31', '2030-06-31', '2030-09-31', '2030-11-31']) {
    const at = `${day}T10:00:00+08:00`;
    refuses(() => create({ claimStart: at }), 'claimStart', new RegExp(`^claimStart: ${day} is not a day of the calendar`));
    refuses(() => create({ claimEnd: at }), 'claimEnd', /not a day of the calendar/);
    refuses(() => create({ ...fixed, validFrom: at }), 'validFrom', /not a day of the calendar/);
    refuses(() => create({ ...fixed, validTo: at }), 'validTo', /not a day of the calendar/);
    refuses(() => parsePatch({ claimStart: at }, D), 'claimStart', /not a day of the calendar/);
    refuses(() => parsePatch({ claimEnd: at }, D), 'claimEnd', /not a day of the calendar/);
  }
  for (const at of ['2030-13-01T00:00:00Z', '2030-00-10T00:00:00Z', '2030-01-32T00:00:00Z', '2030-01-00T00:00:00Z']) {
    refuses(() => create({ claimStart: at }), 'claimStart');
  }
  // Offsets, fractions and month ends that exist keep parsing to the same instant.
  const kept: [string, number][] = [
    ['2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ['2000-02-29T12:00:00Z', Date.UTC(2000, 1, 29, 12)],
    ['2030-01-31T23:59:59.999Z', Date.UTC(2030, 0, 31, 23, 59, 59, 999)],
    ['2030-04-30T10:00:00+08:00', Date.UTC(2030, 3, 30, 2)],
    ['2030-12-31T23:30:00.5-05:30', Date.UTC(2031, 0, 1, 5, 0, 0, 500)],
    ['2030-06-30T08:00Z', Date.UTC(2030, 5, 30, 8)],
  ];
  for (const [at, ms] of kept) assert.equal(create({ claimStart: at }).claimStart, ms, at);
});

test('use window: fixed dates or days after the claim, never both, never expired on arrival', () => {
  const fixed = { claimEnd: iso(NOW + DAY), validFrom: iso(NOW), validTo: iso(NOW + 10 * DAY) };
  const t = create(fixed);
  assert.deepEqual([t.validFrom, t.validTo, t.validDays], [NOW, NOW + 10 * DAY, null]);
  assert.equal(create({ validDays: 7 }).validDays, 7);
  refuses(() => create({ validDays: 0 }), 'validDays');
  refuses(() => create({ ...fixed, validDays: 7 }), 'validDays', /cannot be combined/);
  refuses(() => create({ ...fixed, validFrom: undefined }), 'validFrom', /required with validTo/);
  refuses(() => create({ ...fixed, validTo: undefined }), 'validTo', /required with validFrom/);
  refuses(() => create({ ...fixed, validTo: iso(NOW) }), 'validTo', /after validFrom/);
  refuses(() => create({ ...fixed, claimEnd: undefined }), 'claimEnd', /required when the use window has fixed dates/);
  refuses(() => create({ ...fixed, claimEnd: iso(NOW + 11 * DAY) }), 'claimEnd', /expired coupons/);
  refuses(() => create({ claimEnd: iso(NOW - 2 * DAY), validFrom: iso(NOW - 5 * DAY), validTo: iso(NOW - DAY) }),
    'validTo', /in the past/);
});

test('scope: include and exclude lists of ids, no id both in and out', () => {
  const t = create({ scope: { categories: ['food', 'food'], excludeProducts: ['p9'] } });
  assert.deepEqual(t.scope, { categories: ['food'], products: [], excludeCategories: [], excludeProducts: ['p9'] });
  refuses(() => create({ scope: ['food'] }), 'scope');
  refuses(() => create({ scope: { brands: [] } }), 'scope.brands', /unknown field/);
  refuses(() => create({ scope: { products: 'p1' } }), 'scope.products', /array/);
  refuses(() => create({ scope: { products: ['ok', 'not ok'] } }), 'scope.products[1]');
  refuses(() => create({ scope: { products: Array.from({ length: 1001 }, (_, i) => `p${i}`) } }), 'scope.products', /at most 1000/);
  refuses(() => create({ scope: { categories: ['a'], excludeCategories: ['a'] } }), 'scope.excludeCategories', /also in/);
  refuses(() => create({ scope: { products: ['p'], excludeProducts: ['p'] } }), 'scope.excludeProducts', /also in/);
});

test('stackable and audience', () => {
  assert.equal(create({ stackable: true }).stackable, true);
  refuses(() => create({ stackable: 'yes' }), 'stackable');
  assert.deepEqual(create({ audience: ['u1', 'u2', 'u1'] }).audience, ['u1', 'u2']);
  assert.equal(create({ audience: null }).audience, null);
  refuses(() => create({ audience: [] }), 'audience', /at least one/);
  refuses(() => create({ audience: ['u 1'] }), 'audience[0]');
  refuses(() => create({ audience: ['a', 'b', 'c', 'd', 'e', 'f'] }), 'audience', /at most 5/);
});

test('a live change names only safe fields and keeps the whole template valid', () => {
  const live = templateFixture({ claimStart: NOW, claimEnd: NOW + DAY });
  refuses(() => parsePatch({}, D), 'body', /no field/);
  refuses(() => parsePatch({ version: 3 }, D), 'body', /no field/);
  refuses(() => parsePatch({ value: 1 }, D), 'value', /issued coupons carry it/);
  refuses(() => parsePatch({ validDays: 3 }, D), 'validDays', /issued coupons carry it/);
  refuses(() => parsePatch({ totalStock: 5 }, D), 'totalStock', /\/stock/);
  refuses(() => parsePatch({ subStocks: 2 }, D), 'subStocks', /fixed/);
  refuses(() => parsePatch({ colour: 'red' }, D), 'colour', /unknown field/);
  refuses(() => parsePatch({ status: 'deleted' }, D), 'status');
  refuses(() => parsePatch({ claimEnd: iso(NOW - DAY) }, D).apply(live), 'claimEnd', /after claimStart/);

  const next = parsePatch({ status: 'paused', perUserLimit: 2, audience: ['u1'], stackable: true, name: 'New' }, D).apply(live);
  assert.deepEqual([next.status, next.perUserLimit, next.audience, next.stackable, next.name], ['paused', 2, ['u1'], true, 'New']);
  assert.equal(next.value, live.value);
  const open = parsePatch({ audience: null, scope: null, claimStart: null }, D).apply({ ...live, audience: ['x'] });
  assert.deepEqual([open.audience, open.scope, open.claimStart], [null, ALL_PRODUCTS, null]);
  assert.equal(parsePatch({ name: 'x', version: 4 }, D).expectVersion, 4);
});

test('a change cannot open a fixed use window to expired coupons', () => {
  const fixed = templateFixture({ claimEnd: NOW + DAY, validFrom: NOW, validTo: NOW + 2 * DAY, validDays: null });
  refuses(() => parsePatch({ claimEnd: iso(NOW + 3 * DAY) }, D).apply(fixed), 'claimEnd', /expired coupons/);
  refuses(() => parsePatch({ claimEnd: null }, D).apply(fixed), 'claimEnd', /required/);
  assert.equal(parsePatch({ claimEnd: iso(NOW + 2 * DAY) }, D).apply(fixed).claimEnd, NOW + 2 * DAY);
});
