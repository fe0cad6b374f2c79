/**
 * Reading a grant's user list into MySQL as it arrives (issuance/grant-store.ts addUsers): a JSON
 * array of at most GRANT_JSON_MAX ids, or text with one id a line, streamed (http/body-stream.ts)
 * and parsed chunk by chunk, GRANT_LINES_MAX lines at most. Ids are checked like a claim's user
 * (core/ids.ts); a bad line is a 400 naming its line number. Users go to MySQL in multi-row
 * INSERTs of BATCH ids, each at its line (blank lines skipped), one at a time: while one is
 * written the stream queues (bounded: it pauses the socket), so memory holds at most one batch
 * and the stream's high-water mark.
 */
import { ApiError } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { GRANT_LINES_MAX } from '../../issuance/grant-model.ts';
import type { GrantStore, ListedUser } from '../../issuance/grant-store.ts';
import type { BodyStream } from '../http/body-stream.ts';

// Ids per INSERT: ~150 KB of statement, near where multi-row inserts stop getting cheaper per row.
const BATCH = 2_000;
// Longest line worth keeping while its end has not arrived: an id (64) and a CR.
const LINE_MAX = 65;
// A UTF-8 byte order mark as latin1 reads it: editors (Notepad, Excel's "CSV UTF-8") start files with it.
const BOM = '\u00ef\u00bb\u00bf';

/** Users written so far, and the batch being filled. */
class Writer {
  total = 0;
  private batch: ListedUser[] = [];

  constructor(private readonly store: GrantStore, private readonly grantId: string) {}

  /** Queues user `id` of upload line `seq`; writes the batch when full. */
  async add(seq: number, id: string): Promise<void> {
    this.batch.push({ seq, userId: id });
    if (this.batch.length >= BATCH) await this.flush();
  }

  /** Writes what is queued. */
  async flush(): Promise<void> {
    if (this.batch.length > 0) this.total += await this.store.addUsers(this.grantId, this.batch);
    this.batch = [];
  }
}

/** Stores a JSON upload's ids (already checked); returns the distinct users. */
export async function storeIds(store: GrantStore, grantId: string, ids: readonly string[]): Promise<number> {
  const w = new Writer(store, grantId);
  for (let i = 0; i < ids.length; i++) await w.add(i, ids[i]!);
  await w.flush();
  return w.total;
}

/** Reads a streamed text upload to its end into the store; returns the distinct users. Throws 400 on a bad line. */
export async function storeLines(store: GrantStore, grantId: string, stream: BodyStream): Promise<number> {
  const w = new Writer(store, grantId);
  let carry = '';
  let line = 0;
  const take = async (raw: string) => {
    line++;
    if (line > GRANT_LINES_MAX) throw new ApiError('bad_request', `body: at most ${GRANT_LINES_MAX} lines`);
    const line1 = line === 1 && raw.startsWith(BOM) ? raw.slice(BOM.length) : raw;
    const id = line1.endsWith('\r') ? line1.slice(0, -1) : line1;
    // Blank lines (a trailing newline, an empty line between blocks) name no one.
    if (id === '') return;
    if (!isId(id)) throw new ApiError('bad_request', `line ${line}: not a user id (1-64 characters of [A-Za-z0-9_.:-])`);
    await w.add(line - 1, id);
  };
  for (let chunk = await stream.next(); chunk !== null; chunk = await stream.next()) {
    // latin1 maps each byte to one character: a byte outside ASCII fails the id check, never a
    // decoding error, and a multi-byte character split between chunks cannot be misread.
    const text = carry + chunk.toString('latin1');
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      await take(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
    if (carry.length > LINE_MAX + (line === 0 ? BOM.length : 0)) throw new ApiError('bad_request', `line ${line + 1}: longer than a user id`);
  }
  if (carry !== '') await take(carry);
  await w.flush();
  return w.total;
}
