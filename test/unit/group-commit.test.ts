/**
 * The group commit's scheduling (gateway/claim/group-commit.ts) with a scripted Redis: which
 * claims share a call, when calls go out, and that every claim gets its own reply exactly once,
 * through calls that return, fail, hang, and groups that fill up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ScriptReply, ScriptCode } from '../../lua/codes.ts';
import type { CachedTemplate } from '../../gateway/cache/template-cache.ts';
import type { ClaimCtx } from '../../gateway/claim/answer.ts';
import { ClaimGroups } from '../../gateway/claim/group-commit.ts';
import { GROUP_MAX } from '../../lua/commands.ts';

interface Call {
  readonly users: string[];
  readonly turn: number;
  resolve(): void;
  reject(err: Error): void;
}

/** ClaimGroups over a fake send: calls are recorded and answered when the test says. */
function rig() {
  const calls: Call[] = [];
  let turn = 0;
  let togethers = 0;
  const groups = new ClaimGroups((claims) => new Promise<ScriptReply[]>((resolve, reject) => {
    calls.push({
      users: claims.map((c) => c.userId), turn,
      // each claim's reply names its user, so a reply given to the wrong caller shows.
      resolve: () => resolve(claims.map((c) => [ScriptCode.Issued, `coupon-of-${c.userId}`])),
      reject,
    });
  }), (sends) => { togethers++; turn++; sends(); });
  const templates = [0, 1].map((i) => ({ template: { id: `t${i}` } }) as unknown as CachedTemplate);
  const claim = (user: string, partition = 0, t = 0, home = partition) =>
    groups.claim({ c: templates[t]!, home, homePartition: partition, userId: user } as unknown as ClaimCtx);
  return { groups, calls, claim, togethers: () => togethers };
}

const endOfTurn = () => new Promise((r) => setImmediate(r));

test('claims of one turn share one call per home partition, whatever their template and sub-stock, sent in one write', async () => {
  const r = rig();
  const replies = [r.claim('a'), r.claim('b'), r.claim('c', 1), r.claim('d', 0, 1, 3), r.claim('e')];
  assert.equal(r.calls.length, 0, 'nothing goes out before the end of the turn');
  await endOfTurn();
  assert.deepEqual(r.calls.map((c) => c.users), [['a', 'b', 'd', 'e'], ['c']]);
  assert.equal(r.togethers(), 1, 'the turn\'s calls leave together');
  for (const c of r.calls) c.resolve();
  assert.deepEqual((await Promise.all(replies)).map(([, v]) => v), ['a', 'b', 'c', 'd', 'e'].map((u) => `coupon-of-${u}`));
});

test('claims that arrive while a call is out go together once it returns', async () => {
  const r = rig();
  const first = r.claim('a');
  await endOfTurn();
  const later = [r.claim('b'), r.claim('c')];
  await endOfTurn();
  const more = r.claim('d');
  await endOfTurn();
  assert.equal(r.calls.length, 1, 'one call in flight per partition');
  r.calls[0]!.resolve();
  assert.deepEqual(await first, [ScriptCode.Issued, 'coupon-of-a']);
  await endOfTurn();
  await endOfTurn();
  assert.deepEqual(r.calls.map((c) => c.users), [['a'], ['b', 'c', 'd']]);
  r.calls[1]!.resolve();
  assert.deepEqual((await Promise.all([...later, more])).map(([, v]) => v), ['coupon-of-b', 'coupon-of-c', 'coupon-of-d']);
});

test('a failed call fails each of its claims; the claims gathered behind it still go', async () => {
  const r = rig();
  const lost = [r.claim('a'), r.claim('b')].map((p) => p.then(() => 'ok', (e: Error) => e.message));
  await endOfTurn();
  const behind = r.claim('c');
  r.calls[0]!.reject(new Error('Command timed out'));
  assert.deepEqual(await Promise.all(lost), ['Command timed out', 'Command timed out']);
  await endOfTurn();
  assert.deepEqual(r.calls.map((c) => c.users), [['a', 'b'], ['c']]);
  r.calls[1]!.resolve();
  assert.deepEqual(await behind, [ScriptCode.Issued, 'coupon-of-c']);
});

test('a call out longer than a few ms stops holding back the claims behind it; none is sent twice', async () => {
  const r = rig();
  void r.claim('hung');
  await endOfTurn();
  // claims keep arriving over several turns while the first call hangs.
  const waiting: Promise<ScriptReply>[] = [];
  for (let i = 0; i < 30; i++) {
    waiting.push(r.claim(`u${i}`));
    if (i % 3 === 2) await sleep(4);
  }
  await sleep(60);
  const sent = r.calls.flatMap((c) => c.users);
  assert.ok(r.calls.length >= 2, 'a second call went out beside the hung one');
  assert.deepEqual([...sent].sort(), ['hung', ...Array.from({ length: 30 }, (_, i) => `u${i}`)].sort(), 'each claim sent exactly once');
  for (const c of r.calls) c.resolve();
  assert.equal((await Promise.all(waiting)).length, 30);
});

test(`a group holds at most ${GROUP_MAX} claims; a full one goes at once, even beside a call in flight`, async () => {
  const r = rig();
  const all = Array.from({ length: GROUP_MAX * 2 + 1 }, (_, i) => r.claim(`u${i}`));
  assert.deepEqual(r.calls.map((c) => c.users.length), [GROUP_MAX, GROUP_MAX]);
  await endOfTurn();
  assert.equal(r.calls.length, 2, 'the rest waits for a call to return');
  for (const c of r.calls) c.resolve();
  await endOfTurn();
  await endOfTurn();
  assert.deepEqual(r.calls.map((c) => c.users.length), [GROUP_MAX, GROUP_MAX, 1]);
  r.calls[2]!.resolve();
  await Promise.all(all);
  assert.equal(r.groups.claims, GROUP_MAX * 2 + 1);
  assert.equal(r.groups.calls, 3);
});

test('a sub-stock whose groups keep forming behind slow calls is sent once per group (no double dispatch)', async () => {
  const r = rig();
  const replies = [r.claim('a')];
  await endOfTurn();
  replies.push(r.claim('b')); // waits behind a's call, and is watched
  r.calls[0]!.resolve();
  await sleep(1); // a's call returned: b goes out, and hangs
  assert.deepEqual(r.calls.map((c) => c.users), [['a'], ['b']]);
  replies.push(r.claim('c')); // behind b's call: watched again
  await sleep(40); // b's call is stale: c goes out beside it, once
  assert.deepEqual(r.calls.map((c) => c.users), [['a'], ['b'], ['c']]);
  for (const c of r.calls.slice(1)) c.resolve();
  assert.deepEqual((await Promise.all(replies)).map(([, v]) => v), ['coupon-of-a', 'coupon-of-b', 'coupon-of-c']);
});
