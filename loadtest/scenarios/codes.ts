/**
 * codes: redemption codes, contested. The scenario makes a template and a batch of as many codes
 * as coupons through the admin API, downloads them, and redeems them in pairs sent on two
 * connections at once (requests 2s and 2s + 1): most codes by two different users of a pool
 * that tries several codes under a limit of 1 (one may win, the other gets code_used, or either
 * limit_reached), every REPLAY_EVERY-th by one user twice (a double click: the same coupon,
 * replayed), and after every INVALID_EVERY-th a pair of invalid codes, which must be 404: a typo
 * of a real code (its MAC fails) and a code minted under the secret past the batch's count.
 */
import { batchOf, CodeSigner, codeNumber, SERIALS } from '../../redemption/code-mac.ts';
import type { LoadOptions } from '../options.ts';
import { type RedeemKey, redeemRequest } from '../requests.ts';
import type { RunContext, Scenario } from '../run-context.ts';

const REPLAY_EVERY = 10;
const INVALID_EVERY = 20;
// Crockford's base32, as codes are shown (redemption/code-format.ts).
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const user = (runId: string, pool: string, i: number) => `${runId}${pool}${i}`;

/** The code with its first character changed to the next of the alphabet: a typo whose MAC fails. */
function typo(code: string, signer: CodeSigner): string {
  const bad = `${ALPHABET[(ALPHABET.indexOf(code[0]!) + 1) % ALPHABET.length]}${code.slice(1)}`;
  if (signer.verify(bad) !== undefined) throw new Error(`the typo ${bad} of ${code} verifies: the code format changed`);
  return bad;
}

/** Every pair of redemptions of one cycle, and how many of them can fail (code_used or invalid). */
function pairsOf(ctx: RunContext, codes: readonly string[], numbers: readonly number[], signer: CodeSigner):
  { pairs: [RedeemKey, RedeemKey][]; failures: number } {
  const { runId, o } = ctx;
  const templateId = ctx.templates[0]!.id;
  const batchNo = batchOf(numbers[0]!);
  const pairs: [RedeemKey, RedeemKey][] = [];
  let failures = 0;
  let invalid = 0;
  codes.forEach((code, i) => {
    const number = numbers[i]!;
    if (i % REPLAY_EVERY === 0) {
      const k = { userId: user(runId, 'r', i), code, templateId, number };
      pairs.push([k, k]);
    } else {
      // consecutive users modulo the pool: always two different ones (the pool has at least 2).
      pairs.push([{ userId: user(runId, 'u', (2 * i) % o.users), code, templateId, number },
        { userId: user(runId, 'u', (2 * i + 1) % o.users), code, templateId, number }]);
      failures++;
    }
    if (i % INVALID_EVERY !== 0) return;
    // past the batch's count, within its serials when there are any left: a MAC that passes, a code the batch does not hold.
    const outside = codes.length + invalid < SERIALS ? signer.code(codeNumber(batchNo, codes.length + invalid)) : typo(codes.at(-1)!, signer);
    pairs.push([{ userId: user(runId, 'x', 2 * invalid), code: typo(code, signer), templateId },
      { userId: user(runId, 'x', 2 * invalid + 1), code: outside, templateId }]);
    invalid++;
    failures += 2;
  });
  return { pairs, failures };
}

/** Requests the run will send, when its bound says (a closed loop with --duration does not). */
const plannedRequests = (o: LoadOptions): number | undefined => o.requests ?? (o.rate ? o.rate * o.durationS! : undefined);

/**
 * Throws when the gateway's failure budget (read from this run's environment, the gateway's)
 * would answer 429 before the run's used and invalid codes are all sent: every one comes from
 * this one address, and each gateway worker holds its share of the budget.
 */
function checkBudget(ctx: RunContext, distinct: number, failuresPerCycle: number): void {
  const sent = plannedRequests(ctx.o);
  const needed = sent === undefined ? failuresPerCycle : Math.ceil(failuresPerCycle * sent / distinct);
  const budget = Math.floor(ctx.cfg.codes.failureBurst / ctx.cfg.workers.count);
  if (needed > budget) {
    throw new Error(`codes sends up to ${needed} used and invalid codes from this one address, but REDEEM_FAILURE_BURST ` +
      `(${ctx.cfg.codes.failureBurst} over ${ctx.cfg.workers.count} worker(s)) lets ${budget} through before 429: ` +
      'start the gateway and this run with REDEEM_FAILURE_BURST=1000000');
  }
}

export const codes: Scenario = {
  summary: 'redemption codes, each sent by two users at once (some by one user twice), a few invalid',
  templates: (o, p) => [{ id: `${p}0`, totalStock: o.stock, perUserLimit: 1 }],
  run: async (ctx) => {
    const t = ctx.templates[0]!;
    const signer = new CodeSigner(ctx.cfg.codes.secret);
    const batch = await ctx.admin.createCodes(t.id, t.totalStock);
    console.log(`code batch ${batch.batchId}: ${batch.codes.length} codes downloaded`);
    const numbers = batch.codes.map((c) => signer.verify(c));
    if (numbers.some((n) => n === undefined)) throw new Error('the downloaded codes do not verify under this CODE_SECRET: run with the gateway\'s');
    const { pairs, failures } = pairsOf(ctx, batch.codes, numbers as number[], signer);
    const distinct = 2 * pairs.length;
    checkBudget(ctx, distinct, failures);
    await ctx.phase('redeem', {
      distinct,
      request: (g) => redeemRequest(pairs[(g % distinct) >> 1]![g % 2]!, ctx.o.format, ctx.auth),
    }, { durationS: ctx.o.durationS, requests: ctx.o.requests });
    const c = ctx.collected;
    return {
      expectReplays: true,
      codes: { templateId: t.id, numbers: numbers as number[], invalid: c.invalidCodes, tooManyFailures: c.tooManyFailures },
    };
  },
};
