/** Redemption codes for tests: batches made through the real store, the handler wired as the gateway wires it. */
import { BatchStore, newBatchId } from '../../redemption/batches.ts';
import { CodeSigner, codeNumber } from '../../redemption/code-mac.ts';
import { BatchCache } from '../../gateway/cache/batch-cache.ts';
import { errorReply, type Incoming } from '../../gateway/http/route.ts';
import { ApiError } from '../../core/errors.ts';
import { FailureBudget, type FailureOptions } from '../../gateway/redeem-failures.ts';
import { redeemHandler } from '../../gateway/routes/redeem.ts';
import type { ClaimService } from '../../gateway/claim/service.ts';
import type { Storage } from '../../tools/harness/storage.ts';
import assert from 'node:assert/strict';
import { codeRequestId } from '../../core/ids.ts';
import { couponIdPrefix } from '../../core/shards.ts';
import { ScriptCode } from '../../lua/codes.ts';
import { Commands, type ReservedClaim } from '../../lua/commands.ts';
import { homeSubStock, subStockPartition } from '../../lua/keys.ts';
import type { Template } from '../../templates/model.ts';

export interface CodeRig {
  readonly signer: CodeSigner;
  readonly batches: BatchStore;
  /** A new batch of `count` codes of a template: its codes as shown, and their numbers. */
  codes(templateId: string, count: number): Promise<{ codes: string[]; numbers: number[] }>;
  /** POST /v1/redeem through the real handler (JSON unless `contentType` says otherwise). */
  redeem(body: unknown, o?: { address?: string; contentType?: string }): Promise<{ status: number; body: any; headers?: Record<string, string> }>;
}

/** Codes and the redeem handler on a test's storage and claim service. */
export function codeRig(s: Storage, service: ClaimService, failures: Partial<FailureOptions> = {}): CodeRig {
  const signer = new CodeSigner(s.cfg.codes.secret);
  const batches = new BatchStore(s.mysql, s.cfg.mysql);
  const handler = redeemHandler({
    service, signer, tokenSecrets: [],
    batches: new BatchCache((n) => batches.byNumber(n), 100),
    failures: new FailureBudget({ failureBurst: 1_000_000, failuresPerMinute: 60, maxKeys: 1000, ...failures }),
  });
  return {
    signer, batches,
    codes: async (templateId, count) => {
      const { batch } = await batches.create(newBatchId(), templateId, count, Date.now());
      const numbers = Array.from({ length: count }, (_, i) => codeNumber(batch.batchNo, i));
      return { codes: numbers.map((n) => signer.code(n)), numbers };
    },
    redeem: async (body, o = {}) => {
      const req: Incoming = {
        method: 'post', url: '/v1/redeem', query: '', params: [], contentType: o.contentType ?? 'application/json', authorization: '',
        remoteAddress: o.address ?? '127.0.0.1', body: Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
      };
      // As the route does (http/route.ts): an error thrown before the handler's own catch.
      const reply = await Promise.resolve().then(() => handler(req)).catch((err: unknown) => {
        if (err instanceof ApiError) return errorReply(err);
        throw err;
      });
      return { status: reply.status, body: reply.body, headers: reply.headers as Record<string, string> | undefined };
    },
  };
}

/** A redemption's first step for `userId` and code number n, as the gateway sends it: the reservation at home. */
export async function reserveCode(s: Storage, t: Template, userId: string, n: number): Promise<ReservedClaim> {
  const ks = { prefix: s.cfg.redis.keyPrefix, partitions: s.cfg.redis.partitions };
  const home = homeSubStock(t.id, userId, t.subStocks);
  const claim = { templateId: t.id, userId, requestId: codeRequestId(n), remember: '2', perUserLimit: t.perUserLimit, home,
    homePartition: subStockPartition(ks, t.id, home),
    shardPrefix: couponIdPrefix({ dbs: s.cfg.mysql.shardDbs, tables: s.cfg.mysql.shardTables }, userId) } as const;
  const [code, token] = await new Commands(s.redis, ks).claimHome(claim);
  assert.equal(code, ScriptCode.Reserved);
  return { ...claim, token: String(token) };
}
