/** Unit tests of the size-and-time batcher (pure logic: the clock is passed in). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../sink/batcher.ts';

test('empty batcher is never due', () => {
  const b = new Batcher<number>(3, 100);
  assert.equal(b.size, 0);
  assert.equal(b.isDue(1_000_000), false);
  assert.equal(b.msUntilDue(0), Infinity);
  assert.deepEqual(b.take(), []);
});

test('size trigger: due as soon as maxRows are held, take returns at most maxRows, oldest first', () => {
  const b = new Batcher<number>(3, 60_000);
  b.add(1, 0);
  b.add(2, 0);
  assert.equal(b.isDue(0), false, 'two of three rows, no time passed');
  assert.equal(b.full, false);
  b.add(3, 1);
  b.add(4, 2);
  assert.equal(b.full, true);
  assert.equal(b.isDue(2), true);
  assert.equal(b.msUntilDue(2), 0);
  assert.deepEqual(b.take(), [1, 2, 3]);
  assert.equal(b.size, 1);
  assert.equal(b.isDue(2), false, 'the leftover row is neither a full batch nor old');
  assert.deepEqual(b.take(), [4]);
  assert.equal(b.size, 0);
});

test('time trigger: due when the oldest record waited maxWaitMs', () => {
  const b = new Batcher<string>(100, 50);
  b.add('a', 1000);
  b.add('b', 1040);
  assert.equal(b.isDue(1049), false);
  assert.equal(b.msUntilDue(1010), 40);
  assert.equal(b.isDue(1050), true, 'a waited 50 ms');
  assert.deepEqual(b.take(), ['a', 'b']);
});

test('after a partial take the age is that of the oldest remaining record', () => {
  const b = new Batcher<string>(2, 100);
  b.add('a', 0);
  b.add('b', 10);
  b.add('c', 80);
  assert.deepEqual(b.take(), ['a', 'b']);
  assert.equal(b.isDue(150), false, 'c arrived at 80: due at 180, not at 100');
  assert.equal(b.msUntilDue(150), 30);
  assert.equal(b.isDue(180), true);
});

test('maxWaitMs 0 flushes whatever is there', () => {
  const b = new Batcher<number>(10, 0);
  b.add(7, 5);
  assert.equal(b.isDue(5), true);
  assert.deepEqual(b.take(), [7]);
});

test('rejects nonsense limits', () => {
  assert.throws(() => new Batcher(0, 10));
  assert.throws(() => new Batcher(1, -1));
});
