/** The cluster slot of a key (lua/keys.ts keySlot) agrees with Redis's CLUSTER KEYSLOT, hash tags included. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keySlot } from '../../lua/keys.ts';

test('keySlot gives the slot Redis gives (values from CLUSTER KEYSLOT on Redis 7.0)', () => {
  const redis: [string, number][] = [
    ['foo', 12182], ['123456789', 12739], ['{a}k', 15495], ['{user1000}.following', 3443],
    // an empty tag hashes the whole key; bytes, not characters, are hashed; a '}' before the first '{' is no tag.
    ['a{}b', 13694], ['x{ü}y', 9552], ['x}{y', 9970],
  ];
  for (const [key, slot] of redis) assert.equal(keySlot(key), slot, key);
});
