/**
 * Long answers written as the client reads them (a batch of a million codes is 25 MB): the body
 * is produced a chunk at a time and never held whole. Each chunk goes out with tryEnd against
 * the body's full size (uWS sends the Content-Length and never buffers what the socket does not
 * take); when the socket is full, the rest of that chunk waits for onWritable and nothing more
 * is produced meanwhile, so a slow client costs one chunk of memory. A fast client gets a few
 * chunks per event-loop turn, then the turn ends (setImmediate), so producing the body never
 * holds up the claims served beside it.
 */
import type { HttpResponse } from './uws.ts';

/** A body of `size` bytes in all, produced in chunks. */
export interface StreamBody {
  readonly size: number;
  readonly contentType: string;
  /** The next chunk (never empty); called only while bytes remain. */
  next(): Buffer;
}

// Chunks written per event-loop turn to a client that keeps up: with ~25 KB chunks, ~100 KB
// a turn, a few milliseconds of producing at most.
const CHUNKS_PER_TURN = 4;

/**
 * Writes status line, headers and the body; calls `done` once, when the body is out, the
 * client went away (the returned function, for onAborted) or producing it failed (the
 * connection is then closed: a short body must not pass for a whole one).
 */
export function streamReply(res: HttpResponse, head: () => void, body: StreamBody, done: () => void,
  log: (msg: string, err: unknown) => void): () => void {
  let over = false;
  // The unwritten chunk, and the write offset at which it began.
  let pending: Buffer | undefined;
  let pendingAt = 0;
  const finish = () => {
    if (over) return;
    over = true;
    done();
  };
  /** Writes a chunk (from `at`); true when the socket took it all and the body is not complete. */
  const write = (chunk: Buffer, at: number): boolean => {
    const [ok, complete] = res.tryEnd(chunk, body.size);
    if (complete) finish();
    else if (!ok) [pending, pendingAt] = [chunk, at];
    return ok && !complete;
  };
  const turn = (first: boolean) => {
    if (over) return;
    try {
      res.cork(() => {
        if (first) head();
        for (let i = 0; i < CHUNKS_PER_TURN; i++) if (!write(body.next(), res.getWriteOffset())) return;
        setImmediate(turn, false);
      });
    } catch (err) {
      log('streamed answer failed', err);
      if (!over) res.close();
      finish();
    }
  };
  res.onWritable((offset) => {
    if (over || !pending) return true;
    const chunk = pending;
    pending = undefined;
    const rest = write(chunk.subarray(offset - pendingAt), offset);
    if (rest) setImmediate(turn, false);
    // false: still full, this handler is called again when the socket drains.
    return pending === undefined;
  });
  turn(true);
  return finish;
}
