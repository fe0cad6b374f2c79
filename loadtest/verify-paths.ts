/**
 * The verifier's checks of the issuance paths other than the claim (issue 12), pure over the
 * facts like verify.ts: redemption codes (a code issues one coupon at most, whoever sends it;
 * an invalid code issues nothing) and bulk grants (the job's counts, its refusals and the rows
 * of its request id tell the same story for every listed user). verify.ts runs them beside the
 * oracle, which judges stock, limits and answers over both paths' rows.
 */
import { codeOfRequest } from '../core/ids.ts';
import { grantRequestId } from '../issuance/grant-model.ts';
import type { StoredCoupon, Told, ViolationKind } from '../tools/verify/oracle.ts';

/** What these checks read of a coupon row (verify.ts CouponRow has more). */
type Row = Pick<StoredCoupon, 'couponId' | 'userId' | 'templateId' | 'requestId'>;

/** The kinds of problem these paths add to the oracle's. */
export type PathProblemKind =
  | 'code_reused' // one code issued more than one coupon
  | 'invalid_code' // an invalid code answered other than 404, or a coupon for a code the batch does not hold
  | 'grant'; // a grant job whose counts, refusals and rows disagree

export interface PathProblem {
  readonly kind: PathProblemKind | Extract<ViolationKind, 'scenario'>;
  readonly detail: string;
  readonly templateId?: string;
}

/** codes: what the run's redemptions were about. */
export interface CodeFacts {
  /** The template the batch's codes redeem. */
  readonly templateId: string;
  /** Numbers of the batch's codes the run sent (redemption/code-mac.ts). */
  readonly numbers: readonly number[];
  /** Invalid codes: their answers by HTTP status, and the codes a 200 answered. */
  readonly invalid: { readonly statuses: Readonly<Record<string, number>>; readonly issued: readonly string[] };
  /** Redemptions refused 429 too_many_failures: the gateway's failure budget turned them away unread. */
  readonly tooManyFailures: number;
}

/** A grant job as GET /v1/admin/grants/{id} shows it. */
export interface GrantJob {
  readonly state: string;
  readonly total: number;
  readonly granted: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly failed: number;
}

/** grant: the job the run started, as its API told it at the end. */
export interface GrantFacts {
  readonly grantId: string;
  readonly templateId: string;
  /** The distinct users the upload listed. */
  readonly listed: readonly string[];
  readonly job: GrantJob;
  /** Every refused user with its reason (all pages of .../refusals), `failed` included. */
  readonly refusals: readonly { readonly userId: string; readonly reason: string }[];
}

const sample = (xs: readonly string[]) => `${xs.slice(0, 3).join('; ')}${xs.length > 3 ? ` (and ${xs.length - 3} more)` : ''}`;

/**
 * The grant's coupons as answers: the job tells them by its count, not one by one, so every
 * row of its request id held by a listed user counts as told (checkGrant holds the count to
 * them). A row of an unlisted user stays untold, for the oracle and checkGrant to report.
 */
export function grantAnswers(g: GrantFacts, rows: readonly Row[]): Omit<Told, 'at'>[] {
  const requestId = grantRequestId(g.grantId);
  const listed = new Set(g.listed);
  return rows.filter((r) => r.templateId === g.templateId && r.requestId === requestId && listed.has(r.userId)).map((r) => ({
    templateId: r.templateId, userId: r.userId, requestId, couponId: r.couponId, replayed: false, toldUserId: r.userId,
    toldTemplateId: r.templateId,
  }));
}

/** Redemption codes: each code's rows hold one coupon at most, of a code the batch holds; invalid codes got 404. */
export function checkCodes(c: CodeFacts, rows: readonly Row[]): PathProblem[] {
  const out: PathProblem[] = [];
  const add = (kind: PathProblem['kind'], detail: string) => out.push({ kind, detail, templateId: c.templateId });
  const held = new Set(c.numbers);
  const byCode = new Map<number, Set<string>>();
  const unheld: string[] = [];
  for (const r of rows) {
    if (r.templateId !== c.templateId) continue;
    const n = codeOfRequest(r.requestId);
    if (n === undefined || !held.has(n)) {
      unheld.push(`${r.couponId} of ${r.userId} (request ${r.requestId})`);
      continue;
    }
    (byCode.get(n) ?? byCode.set(n, new Set()).get(n)!).add(`${r.couponId} of ${r.userId}`);
  }
  for (const [n, coupons] of byCode) {
    if (coupons.size > 1) add('code_reused', `code number ${n} issued ${coupons.size} coupons: ${[...coupons].join(', ')}`);
  }
  if (unheld.length > 0) add('invalid_code', `${unheld.length} coupons of the codes' template were not issued for a code of the batch: ${sample(unheld)}`);
  if (c.invalid.issued.length > 0) add('invalid_code', `${c.invalid.issued.length} invalid codes were answered 200: ${sample(c.invalid.issued)}`);
  // 429 answers are decided before the code is read (admission or the failure budget): nothing was issued.
  const other = Object.entries(c.invalid.statuses).filter(([s]) => s !== '404' && s !== '429' && s !== '200');
  if (other.length > 0) add('invalid_code', `invalid codes answered other than 404: ${other.map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  if (Object.keys(c.invalid.statuses).length === 0) add('scenario', 'no invalid code was answered: the run did not exercise them');
  if (c.tooManyFailures > 0) {
    add('scenario', `${c.tooManyFailures} redemptions were refused 429 too_many_failures: the gateway's REDEEM_FAILURE_BURST per ` +
      'address (the load generator is one) is below the run\'s used and invalid codes; start it with REDEEM_FAILURE_BURST=1000000');
  }
  return out;
}

/**
 * A grant job: done, its counts add up to the users listed, every listed user holds exactly one
 * coupon of the grant's request id or is refused (a `failed` user may hold one: its claim's
 * outcome was never learned), and the job's granted count is the rows of the granted users.
 */
export function checkGrant(g: GrantFacts, rows: readonly Row[]): PathProblem[] {
  const out: PathProblem[] = [];
  const add = (detail: string) => out.push({ kind: 'grant', detail: `grant ${g.grantId}: ${detail}`, templateId: g.templateId });
  const j = g.job;
  if (j.state !== 'done') add(`the job ended ${j.state}, not done: some listed users were never decided`);
  if (j.total !== g.listed.length) add(`the job counts ${j.total} users, the upload listed ${g.listed.length} distinct users`);
  const refusedSum = Object.values(j.refused).reduce((s, n) => s + n, 0);
  if (j.granted + refusedSum + j.failed !== j.total) {
    add(`granted ${j.granted} + refused ${refusedSum} + failed ${j.failed} != ${j.total} users: some were lost or counted twice`);
  }
  const reasonOf = new Map(g.refusals.map((r) => [r.userId, r.reason]));
  const byReason = new Map<string, number>();
  for (const reason of reasonOf.values()) byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  for (const reason of new Set([...Object.keys(j.refused), 'failed', ...byReason.keys()])) {
    const counted = reason === 'failed' ? j.failed : (j.refused[reason] ?? 0);
    if ((byReason.get(reason) ?? 0) !== counted) add(`the job counts ${counted} users ${reason}, its refusals list ${byReason.get(reason) ?? 0}`);
  }
  const requestId = grantRequestId(g.grantId);
  const listed = new Set(g.listed);
  const couponsOf = new Map<string, Set<string>>();
  const unlisted: string[] = [];
  for (const r of rows) {
    if (r.templateId !== g.templateId || r.requestId !== requestId) continue;
    if (!listed.has(r.userId)) unlisted.push(`${r.couponId} of ${r.userId}`);
    (couponsOf.get(r.userId) ?? couponsOf.set(r.userId, new Set()).get(r.userId)!).add(r.couponId);
  }
  if (unlisted.length > 0) add(`${unlisted.length} coupons of the grant went to users it did not list: ${sample(unlisted)}`);
  const twice: string[] = [];
  const both: string[] = [];
  const neither: string[] = [];
  let granted = 0;
  for (const u of g.listed) {
    const n = couponsOf.get(u)?.size ?? 0;
    const reason = reasonOf.get(u);
    if (n > 1) twice.push(`${u} (${n})`);
    if (n > 0 && reason !== undefined && reason !== 'failed') both.push(`${u} (${reason})`);
    if (n === 0 && reason === undefined) neither.push(u);
    if (n > 0 && reason !== 'failed') granted++;
  }
  if (twice.length > 0) add(`${twice.length} listed users hold more than one coupon of the grant: ${sample(twice)}`);
  if (both.length > 0) add(`${both.length} listed users hold a coupon of the grant and are recorded refused: ${sample(both)}`);
  if (neither.length > 0) add(`${neither.length} listed users neither hold a coupon of the grant nor are refused: ${sample(neither)}`);
  if (granted !== j.granted) add(`the job counts ${j.granted} users granted, MySQL holds the grant's coupon for ${granted}`);
  return out;
}
