/** The claim path's circuit breaker: when it opens, what it refuses, the probe, and what it ignores. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breaker } from '../../gateway/breaker.ts';
import { ApiError } from '../../core/errors.ts';

const opts = { failures: 3, windowMs: 1000, coolDownMs: 500 };

/** A breaker on a clock the test moves, and a count of the calls that really ran. */
function rig() {
  let t = 0;
  const changes: boolean[] = [];
  const b = new Breaker(opts, (open) => changes.push(open), () => t);
  let ran = 0;
  const ok = () => b.run(async () => { ran++; return 'ok'; });
  const fail = () => b.run(async () => { ran++; throw new Error('timeout'); });
  /** 'ok', 'failed' (the call ran and failed) or 'refused' (a 503 without running). */
  const outcome = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (e) {
      return e instanceof ApiError && e.code === 'unavailable' ? 'refused' : 'failed';
    }
  };
  return { b, changes, ok, fail, outcome, ran: () => ran, at: (ms: number) => { t = ms; } };
}

test('opens after N failures in a window, then refuses without calling', async () => {
  const r = rig();
  for (let i = 0; i < 3; i++) assert.equal(await r.outcome(r.fail()), 'failed');
  assert.deepEqual(r.changes, [true]);
  const before = r.ran();
  assert.equal(await r.outcome(r.ok()), 'refused');
  assert.equal(r.ran(), before, 'a refused call never runs');
});

test('failures spread over windows, or outnumbered by successes, do not open it', async () => {
  const r = rig();
  await r.outcome(r.fail());
  await r.outcome(r.fail());
  r.at(1500);
  await r.outcome(r.fail());
  assert.deepEqual(r.changes, [], 'two windows of two and one failures');
  // One shard of three hung: a third of the calls fail, the others succeed.
  const shard = rig();
  for (let i = 0; i < 30; i++) await shard.outcome(i % 3 === 0 ? shard.fail() : shard.ok());
  assert.deepEqual(shard.changes, []);
});

test('after the cool-down one probe goes; its success closes the breaker', async () => {
  const r = rig();
  for (let i = 0; i < 3; i++) await r.outcome(r.fail());
  r.at(499);
  assert.equal(await r.outcome(r.ok()), 'refused');
  r.at(500);
  let release!: () => void;
  const probe = r.b.run(() => new Promise<string>((res) => { release = () => res('ok'); }));
  assert.equal(await r.outcome(r.ok()), 'refused', 'one probe at a time');
  release();
  assert.equal(await probe, 'ok');
  assert.deepEqual(r.changes, [true, false]);
  assert.equal(await r.outcome(r.ok()), 'ok');
});

test('a failed probe opens it for another cool-down; a lost probe is replaced', async () => {
  const r = rig();
  for (let i = 0; i < 3; i++) await r.outcome(r.fail());
  r.at(500);
  assert.equal(await r.outcome(r.fail()), 'failed');
  assert.equal(await r.outcome(r.ok()), 'refused');
  r.at(1000);
  // A probe that never reports (its outcome was an answer, not a storage result).
  assert.equal(await r.outcome(r.b.run(async () => { throw new ApiError('bad_request'); })), 'failed');
  assert.equal(await r.outcome(r.ok()), 'refused');
  r.at(1500);
  assert.equal(await r.outcome(r.ok()), 'ok');
  assert.deepEqual(r.changes, [true, false]);
});

test('answers (ApiError) are not failures; record() counts but never refuses', async () => {
  const r = rig();
  for (let i = 0; i < 5; i++) await r.outcome(r.b.run(async () => { throw new ApiError('template_not_found'); }));
  assert.deepEqual(r.changes, []);
  for (let i = 0; i < 3; i++) await r.outcome(r.fail());
  assert.equal(await r.outcome(r.b.record(async () => 'step')), 'ok', 'a step of a claim under way still runs');
  assert.deepEqual(r.changes, [true], 'a success while open leaves the decision to the probe');
  assert.equal(await r.outcome(r.ok()), 'refused');
});

test('refusing() says, without side effects, whether a call would be refused now', async () => {
  const r = rig();
  assert.equal(r.b.refusing(), false);
  for (let i = 0; i < 3; i++) await r.outcome(r.fail());
  assert.equal(r.b.refusing(), true);
  r.at(500);
  assert.equal(r.b.refusing(), false, 'a probe is due: the claim goes on to be that probe');
  assert.equal(r.b.refusing(), false, 'asking twice does not take the probe');
  const probe = r.b.run(() => new Promise<string>(() => {}));
  assert.equal(r.b.refusing(), true, 'a probe in flight: the others are refused');
  void probe;
});
