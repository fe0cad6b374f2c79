/**
 * Registers every Lua script once per client with defineCommand, and types them on ioredis by
 * module augmentation. Scripts live one per file as <command>-<numKeys>.lua (-n.lua: a variable
 * number, fenced.ts); a line `--- @include "name"` is replaced by lua/includes/name.lua before
 * registration.
 * The scripts that decide issues and change stock are not here: ioredis loads a defined script
 * by itself (EVAL on a connection's first use), which would run them on a Redis that restarted
 * and has not been repaired yet. They live in fenced.ts, loaded only once the run is repaired.
 */
import { readFileSync } from 'node:fs';
import type { Cluster, Redis, Result } from 'ioredis';
import type { ScriptReply } from './codes.ts';

const here = new URL('.', import.meta.url);

/** The source of lua/<file> with its includes in place. */
export function loadScript(file: string): string {
  const text = readFileSync(new URL(file, here), 'utf8');
  if (!text.startsWith('#!lua')) throw new Error(`lua/${file} must start with #!lua`);
  return text.replace(/^--- @include "([a-z-]+)"$/gm, (_, name: string) =>
    readFileSync(new URL(`includes/${name}.lua`, here), 'utf8'));
}

/** Command name -> script file; the number of keys is read from the file name. */
const FILES = {
  claimSettle: 'claim-settle-2.lua',
  streamTrim: 'stream-trim-1.lua',
  templatePut: 'template-put-1.lua',
  statsAdd: 'stats-add-3.lua',
  stockFreeze: 'stock-freeze-2.lua',
  stockThaw: 'stock-thaw-2.lua',
  stockRestore: 'stock-restore-3.lua',
  packetShave: 'packet-shave-2.lua',
  usersSwap: 'users-swap-3.lua',
  leaseTake: 'lease-take-1.lua',
  leaseDrop: 'lease-drop-1.lua',
  stockShave: 'stock-shave-1.lua',
  usersAtLeast: 'users-atleast-1.lua',
  codeBind: 'code-bind-2.lua',
} as const;

/** Registers every script on a client (single node or cluster). */
export function defineScripts(client: Redis | Cluster): void {
  for (const [name, file] of Object.entries(FILES)) {
    const numberOfKeys = Number(/-(\d+)\.lua$/.exec(file)![1]);
    client.defineCommand(name, { lua: loadScript(file), numberOfKeys });
  }
}

type S = string | number;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    claimSettle(users: string, pending: string, templateId: string, userId: string,
      requestId: string, couponId: string, remember: '0' | '1'): Result<ScriptReply, Context>;
    streamTrim(stream: string): Result<ScriptReply, Context>;
    templatePut(template: string, version: S, data: string): Result<ScriptReply, Context>;
    statsAdd(totals: string, second: string, applied: string, seq: S, claims: S, issued: S,
      secondTtl: S, appliedTtl: S, ...reasonCounts: S[]): Result<ScriptReply, Context>;
    stockFreeze(stock: string, frozen: string): Result<ScriptReply, Context>;
    stockThaw(stock: string, frozen: string): Result<ScriptReply, Context>;
    stockRestore(stock: string, frozen: string, budget: string, remaining: S, budgetLeft: S): Result<ScriptReply, Context>;
    packetShave(stock: string, budget: string, stockLeft: S, budgetLeft: S): Result<ScriptReply, Context>;
    usersSwap(users: string, rebuilt: string, pending: string, templateId: string,
      ...unresolved: string[]): Result<ScriptReply, Context>;
    leaseTake(lease: string, owner: string, ttlMs: S): Result<ScriptReply, Context>;
    leaseDrop(lease: string, owner: string): Result<ScriptReply, Context>;
    stockShave(stock: string, n: S): Result<ScriptReply, Context>;
    usersAtLeast(users: string, ...triples: S[]): Result<ScriptReply, Context>;
    codeBind(marks: string, holds: string, templateId: string, code: S, userId: string, token: string,
      answer: string): Result<ScriptReply, Context>;
  }
}
