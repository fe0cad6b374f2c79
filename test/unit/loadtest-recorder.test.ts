/** The load test's recorder: what a phase's answers and missing answers count for the verifier. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { Collected, Recorder } from '../../loadtest/recorder.ts';
import { batchRequest, redeemRequest } from '../../loadtest/requests.ts';

test('a batch that got no answer leaves each of its templates uncertain, as a 503 does', () => {
  const collected = new Collected();
  const rec = new Recorder('claim all', collected, performance.now());
  const templateIds = ['a', 'b', 'c'];
  const spec = batchRequest({ userId: 'u', templateIds, requestId: 'r' }, 'json', () => ({}));
  const results = templateIds.map((templateId, i) => ({ templateId, status: 'issued', couponId: `c${i}` }));
  for (let i = 0; i < 4; i++) rec.sent();
  rec.response(spec, 200, Buffer.from(JSON.stringify({ results })), 1, performance.now());
  rec.response(spec, 503, Buffer.from('{}'), 1, performance.now());
  rec.error(performance.now());
  rec.finish({ driver: 'autocannon', connections: 1 });
  assert.equal(collected.answers.length, 3);
  // the 503 and the two batches without an answer (one error, one never answered) may each have issued 3.
  assert.equal(collected.uncertain, 9);
});

test('a redemption is a claim whose request id is its code\'s; an invalid code\'s answers are only counted', () => {
  const collected = new Collected();
  const rec = new Recorder('redeem', collected, performance.now());
  const valid = redeemRequest({ userId: 'u', code: 'AAAA', templateId: 't', number: 7 }, 'msgpack', () => ({}));
  const invalid = redeemRequest({ userId: 'v', code: 'BBBB', templateId: 't' }, 'json', () => ({}));
  const answer = { status: 'issued', couponId: 'c1', userId: 'u', templateId: 't' };
  // plain maps, as the gateway's codec writes them.
  rec.response(valid, 200, new Packr({ useRecords: false }).pack(answer), 1, performance.now());
  rec.response(valid, 503, Buffer.from('{}'), 1, performance.now());
  rec.response(invalid, 404, Buffer.from(JSON.stringify({ error: 'invalid_code' })), 1, performance.now());
  rec.response(invalid, 429, Buffer.from(JSON.stringify({ error: 'too_many_failures' })), 1, performance.now());
  rec.response(invalid, 429, Buffer.from(JSON.stringify({ error: 'rate_limited' })), 1, performance.now());
  rec.response(invalid, 200, Buffer.from(JSON.stringify({ ...answer, userId: 'v' })), 1, performance.now());
  assert.deepEqual(collected.answers, [{ templateId: 't', userId: 'u', requestId: 'code:7', couponId: 'c1', replayed: false,
    toldUserId: 'u', toldTemplateId: 't' }]);
  assert.equal(collected.uncertain, 1, 'the 503 of a valid code');
  assert.deepEqual(collected.invalidCodes, { statuses: { 404: 1, 429: 2, 200: 1 }, issued: ['BBBB'] });
  assert.equal(collected.tooManyFailures, 1, 'rate_limited is the load, not the budget');
});
