/**
 * The sink process releases stale coupon locks by itself (sink/lock-sweep-job.ts): a lock left
 * by an order that never came back returns to unused within a sweep period, the order's confirm
 * is told lock_expired, and a lock still inside its TTL is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import { couponState, seedCoupon, tccOf, transitions } from '../support/checkout.ts';
import { type Proc, spawnEntry } from '../support/processes.ts';
import { waitFor } from '../support/sink-fixtures.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv({ LOCK_SWEEP_MS: '200' });
let s: Storage;
let sink: Proc;
before(async () => {
  s = await openStorage(testConfig(env));
  sink = spawnEntry('sink/main.ts', env);
});
after(async () => {
  await sink.stop();
  await s.close();
});

test('the sink releases a lock past its TTL and leaves a live one', async () => {
  const short = tccOf(s, 500);
  const long = tccOf(s);
  try {
    const stale = await seedCoupon(s, { userId: 'gone' });
    const live = await seedCoupon(s, { userId: 'here' });
    await short.tcc.lock(stale, 'gone', 'abandoned', Date.now());
    await long.tcc.lock(live, 'here', 'open', Date.now());
    await waitFor(async () => (await couponState(s, stale)).status === 'unused', 10_000, 'the sweep releases the stale lock');
    assert.deepEqual((await transitions(s, stale)).map((t) => t.cause), ['lock', 'lock_expired']);
    await assert.rejects(long.tcc.confirm(stale, 'abandoned', Date.now()), (e: ApiError) => e.code === 'lock_expired');
    assert.deepEqual(await couponState(s, live), { status: 'locked', order_id: 'open' });
    // The line follows the commit the test saw: on a busy machine it can reach the pipe a little later.
    await waitFor(async () => /released 1 coupon lock/.test(sink.log()), 5_000, 'the sweep to log its release');
  } finally {
    await short.close();
    await long.close();
  }
});
