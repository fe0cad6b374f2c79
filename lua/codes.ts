/** Integer result codes of every Lua script in lua/ (the first element of each reply). */
export enum ScriptCode {
  Issued = 1,
  Replayed = 2,
  LimitReached = 3,
  Reserved = 4,
  Pending = 5,
  Busy = 6,
  StockMissing = 7,
  Empty = 8,
  Settled = 9,
  NotPending = 10,
  Trimmed = 11,
  NoGroup = 12,
  Written = 13,
  Stale = 14,
  StockChanged = 15,
  StockChangeKnown = 16,
  // 20-24: the rebuild of Redis from MySQL (templates/rebuild/).
  Frozen = 20,
  StockAbsent = 21,
  Thawed = 22,
  StockLive = 23,
  UsersReplaced = 24,
  // 25-29: the reconciler (reconcile/).
  Leased = 25,
  LeaseHeld = 26,
  LeaseDropped = 27,
  Shaved = 28,
  UsersRaised = 29,
  // 30-32: the fences of the claim path (lua/fenced.ts, lua/claim-take-5.lua, lua/claim-replay-1.lua).
  /** Not a script's reply: the script is not loaded because this Redis run is not repaired yet. */
  Fenced = 30,
  Released = 31,
  NoAnswer = 32,
  // 40-49: redemption codes (lua/code-take-6.lua, lua/code-bind-2.lua).
  CodeUsed = 40,
  /** The code's sub-stock is empty: the code is now held by this reservation, which takes elsewhere. */
  CodeHeld = 41,
  /** Another reservation holds the code (it is being redeemed): nothing taken. */
  CodeBusy = 42,
  /** The hold became the code's mark (or, for a release, is gone). */
  CodeBound = 43,
  /** The code is marked or held by another redemption: the bind changed nothing. */
  CodeConflict = 44,
}

/** A script reply: the code, then an optional string or number payload. */
export type ScriptReply = [code: ScriptCode, value?: string | number];
