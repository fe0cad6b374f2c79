/** The pure rules of bulk grants: state changes, the PATCH body, chunk sizing, what streams. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { checkTransition, grantRequestId, isFinished, newGrantId } from '../../issuance/grant-model.ts';
import { isTextList, parseGrantChange } from '../../gateway/routes/admin-grants.ts';
import { chunkSize } from '../../sink/grant-runner.ts';
import { isId } from '../../core/ids.ts';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
  return 'ok';
};

test('a finished job changes no more (409 grant_state_conflict); a live one may pause, resume, cancel', () => {
  for (const from of ['done', 'cancelled', 'failed'] as const) {
    assert.ok(isFinished(from));
    for (const to of ['running', 'paused', 'cancelled'] as const) assert.equal(code(() => checkTransition(from, to)), 'grant_state_conflict');
  }
  for (const from of ['running', 'paused'] as const) {
    assert.ok(!isFinished(from));
    for (const to of ['running', 'paused', 'cancelled'] as const) assert.equal(code(() => checkTransition(from, to)), 'ok');
  }
});

test('PATCH bodies: a state an operator may set, or an integer rate; anything else is a 400', () => {
  assert.deepEqual(parseGrantChange({ state: 'paused' }), { state: 'paused', ratePerSecond: undefined });
  assert.deepEqual(parseGrantChange({ ratePerSecond: 10 }), { state: undefined, ratePerSecond: 10 });
  for (const bad of [{}, { state: 'done' }, { state: 'RUNNING' }, { ratePerSecond: 0 }, { ratePerSecond: 2.5 }, { ratePerSecond: '5' },
    { ratePerSecond: 1_000_001 }, { state: 'paused', x: 1 }, [], null]) {
    assert.equal(code(() => parseGrantChange(bad)), 'bad_request', JSON.stringify(bad));
  }
});

test('chunks take at most half a second of the rate, within 1 and the maximum', () => {
  assert.equal(chunkSize(1, 500), 1);
  assert.equal(chunkSize(3, 500), 1);
  assert.equal(chunkSize(200, 500), 100);
  assert.equal(chunkSize(1_000_000, 500), 500);
});

test('text/plain streams, JSON does not; grant ids make valid request ids', () => {
  assert.ok(isTextList('text/plain'));
  assert.ok(isTextList('Text/Plain; charset=utf-8'));
  assert.ok(!isTextList('application/json'));
  assert.ok(!isTextList('text/plainish'));
  const id = newGrantId();
  assert.ok(isId(id) && isId(grantRequestId(id)));
  assert.notEqual(newGrantId(), id);
});
