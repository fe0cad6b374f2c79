/** Deadlines of request bodies: one fires after the timeout (not before), a finished body never. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BodyDeadlines } from '../../gateway/http/body-deadlines.ts';

test('a body still pending expires between the timeout and 1.25 x the timeout; a done one never', async () => {
  const d = new BodyDeadlines(200);
  const started = performance.now();
  let expiredAt = 0;
  let finishedExpired = false;
  d.add(() => { expiredAt = performance.now() - started; });
  const finished = d.add(() => { finishedExpired = true; });
  d.done(finished);
  await sleep(400);
  d.stop();
  assert.ok(expiredAt >= 200 && expiredAt < 300, `expired after ${expiredAt} ms`);
  assert.equal(finishedExpired, false);
});

test('later bodies keep their own time', async () => {
  const d = new BodyDeadlines(200);
  const expired: string[] = [];
  d.add(() => expired.push('first'));
  await sleep(120);
  d.add(() => expired.push('second'));
  await sleep(140);
  assert.deepEqual(expired, ['first']);
  await sleep(150);
  d.stop();
  assert.deepEqual(expired, ['first', 'second']);
});
