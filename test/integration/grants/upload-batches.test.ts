/**
 * A streamed grant list goes to MySQL in multi-row INSERTs (gateway/routes/grant-upload.ts),
 * whatever its blank lines: a list with a blank line between ids (a "\n\n" separated export)
 * must not cost one INSERT per id. The store is the real one on MariaDB, its calls counted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { storeLines } from '../../../gateway/routes/grant-upload.ts';
import type { BodyStream } from '../../../gateway/http/body-stream.ts';
import { GrantStore } from '../../../issuance/grant-store.ts';
import { newGrantId } from '../../../issuance/grant-model.ts';
import { openStorage, type Storage, testConfig } from '../../../tools/harness/storage.ts';

let s: Storage;
before(async () => { s = await openStorage(testConfig()); });
after(() => s?.close());

/** The real store, counting its INSERTs of listed users. */
class CountingStore extends GrantStore {
  inserts = 0;
  override addUsers(...args: Parameters<GrantStore['addUsers']>): ReturnType<GrantStore['addUsers']> {
    this.inserts++;
    return super.addUsers(...args);
  }
}

/** A request body of `chunks`, as the route's stream hands them over. */
function bodyOf(chunks: Buffer[]): BodyStream {
  let i = 0;
  return { next: async () => chunks[i++] ?? null } as unknown as BodyStream;
}

test('blank lines between ids: the ids still go in batches, each at its line', async () => {
  const store = new CountingStore(s.mysql, s.cfg.mysql);
  const grantId = newGrantId();
  const ids = Array.from({ length: 10_000 }, (_, i) => `b${i}`);
  const text = Buffer.from(ids.map((id) => `${id}\n\n`).join(''));
  const total = await storeLines(store, grantId, bodyOf([text.subarray(0, 70_001), text.subarray(70_001)]));
  assert.equal(total, ids.length);
  assert.ok(store.inserts <= 6, `${store.inserts} INSERTs for ${ids.length} ids`);
  // Each id keeps its upload line: the job walks them in that order.
  const listed = await store.next(grantId, -1, ids.length);
  assert.deepEqual(listed.map((u) => u.userId), ids);
  assert.deepEqual(listed.slice(0, 3).map((u) => u.seq), [0, 2, 4]);
});
