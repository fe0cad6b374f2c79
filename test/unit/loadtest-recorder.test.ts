/** The load test's recorder: what a phase's answers and missing answers count for the verifier. */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Collected, Recorder } from '../../loadtest/recorder.ts';
import { batchRequest } from '../../loadtest/requests.ts';

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
