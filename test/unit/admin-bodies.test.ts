/** The admin bodies' zod schemas refuse with a 400 that names the field and says why, as the hand-written readers did. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { parseBody } from '../../core/zod.ts';
import { grantChangeSchema, grantUsersSchema } from '../../issuance/grant-bodies.ts';
import { GRANT_JSON_MAX } from '../../issuance/grant-model.ts';
import { codeBatchSchema } from '../../redemption/batch-request.ts';
import { BLACKLIST_MAX_IDS, blacklistSchema, stockChangeSchema } from '../../templates/admin-bodies.ts';

/** The message parseBody refuses `body` with (a 400), or 'ok'. */
function refusal(schema: Parameters<typeof parseBody>[0], body: unknown): string {
  try {
    parseBody(schema, body);
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, 'bad_request');
    return err.message;
  }
}

test('stock changes: a non-zero integer add and an optional request id', () => {
  assert.equal(refusal(stockChangeSchema, { add: -3, requestId: 'r-1' }), 'ok');
  assert.match(refusal(stockChangeSchema, {}), /^add: is required/);
  assert.equal(refusal(stockChangeSchema, { add: 0 }), 'add: must not be 0');
  assert.equal(refusal(stockChangeSchema, { add: 1.5 }), 'add: must be an integer');
  assert.equal(refusal(stockChangeSchema, { add: '5' }), 'add: must be an integer');
  assert.equal(refusal(stockChangeSchema, { add: 2e9 }), 'add: must be between -1000000000 and 1000000000');
  assert.match(refusal(stockChangeSchema, { add: 1, requestId: 'a b' }), /^requestId: must be 1-64 characters/);
  assert.equal(refusal(stockChangeSchema, { add: 1, x: 1 }), 'x: unknown field');
  assert.equal(refusal(stockChangeSchema, [1]), 'body: must be a JSON object with the fields add, requestId');
});

test('an unknown field is named before what it leaves missing', () => {
  assert.equal(refusal(codeBatchSchema, { cout: 5 }), 'cout: unknown field');
  assert.match(refusal(codeBatchSchema, {}), /^count: is required: the number of codes, 1-1000000/);
  assert.equal(refusal(codeBatchSchema, { count: 0 }), 'count: must be between 1 and 1000000');
});

test('grants: the user list, its ids by index, and the change of a job', () => {
  assert.match(refusal(grantUsersSchema, {}), /^userIds: is required: an array of 1-10000 user ids/);
  assert.equal(refusal(grantUsersSchema, { userIds: 'u1' }), 'userIds: must be an array of ids');
  assert.match(refusal(grantUsersSchema, { userIds: ['u1', 'ü'] }), /^userIds\[1\]: must be 1-64 characters/);
  assert.equal(refusal(grantUsersSchema, { userIds: ['u1'], ratePerSecond: null }), 'ok');
  assert.equal(refusal(grantChangeSchema, { state: 'done' }), 'state: must be one of running, paused, cancelled');
  assert.equal(refusal(grantChangeSchema, { state: null }), 'state: must be one of running, paused, cancelled');
});

test('the blacklist: lists of ids, each checked', () => {
  assert.equal(refusal(blacklistSchema, {}), 'ok');
  assert.match(refusal(blacklistSchema, { categories: ['a'], products: [1] }), /^products\[0\]: must be 1-64 characters/);
  assert.equal(refusal(blacklistSchema, { categories: Array(10_001).fill('a') }), 'categories: must hold at most 10000 ids');
});

test('an overlong list of junk is refused for its length, not with an issue per element', () => {
  const junk = { categories: new Array(1_000_000).fill(0) };
  // A million issues would cost the event loop the claims share; zod stops at the length.
  const issues = blacklistSchema.safeParse(junk).error!.issues;
  assert.ok(issues.length <= BLACKLIST_MAX_IDS + 2, `${issues.length} issues`);
  assert.ok(issues.some((i) => /must hold at most/.test(i.message)));
  assert.ok(grantUsersSchema.safeParse({ userIds: junk.categories }).error!.issues.length <= GRANT_JSON_MAX + 2);
  assert.match(refusal(blacklistSchema, { categories: new Array(BLACKLIST_MAX_IDS + 1).fill('ok') }), /must hold at most/);
});
