/** Bulk grant jobs: their states, the changes an operator may make, and their JSON. */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../core/errors.ts';
import type { Template } from '../templates/model.ts';

export const GRANT_STATES = ['running', 'paused', 'done', 'cancelled', 'failed'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/** Reasons a listed user got no coupon; `failed` is a claim that kept failing (its outcome was retried, then given up). */
export const GRANT_REFUSALS = ['limit_reached', 'sold_out', 'ended', 'not_eligible'] as const;
export type GrantRefusal = (typeof GRANT_REFUSALS)[number];
export type GrantOutcome = GrantRefusal | 'failed';

/**
 * Why a running job decides no one now, from its template alone: paused, or its claim window not
 * open yet. The job waits (sink/grant-runner.ts) and its view says so (`heldBy`).
 */
export function templateHold(t: Pick<Template, 'status' | 'claimStart'>, now: number): 'template_paused' | 'not_started' | undefined {
  if (t.status === 'paused') return 'template_paused';
  if (t.claimStart !== null && now < t.claimStart) return 'not_started';
  return undefined;
}

/** Most ids of a JSON upload; longer lists stream as text. */
export const GRANT_JSON_MAX = 10_000;
/** Most lines of a streamed text upload. */
export const GRANT_LINES_MAX = 10_000_000;
/** Highest rate an operator may set (users per second). */
export const GRANT_RATE_MAX = 1_000_000;

/** A job as stored (issuance/grant-store.ts). */
export interface Grant {
  readonly grantId: string;
  readonly templateId: string;
  readonly state: GrantState;
  readonly total: number;
  /** The cursor: every user up to this upload line is decided and counted. */
  readonly lastSeq: number;
  readonly granted: number;
  readonly refused: Readonly<Record<GrantRefusal, number>>;
  readonly failed: number;
  readonly ratePerSecond: number;
  /** Chunks committed so far. */
  readonly chunks: number;
  readonly note: string | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
}

/** A fresh grant id (12 characters of base64url): its users' claims use request id `g:<grantId>`. */
export const newGrantId = (): string => randomBytes(9).toString('base64url');

/** The request id of every claim of a grant: unique per (grant, user) in the user's hash, so a re-run replays. */
export const grantRequestId = (grantId: string): string => `g:${grantId}`;

/** True for a state no job leaves. */
export const isFinished = (s: GrantState): boolean => s === 'done' || s === 'cancelled' || s === 'failed';

/** Checks an operator's state change; 409 grant_state_conflict for a finished job. */
export function checkTransition(from: GrantState, to: GrantState): void {
  if (isFinished(from)) throw new ApiError('grant_state_conflict', `the grant is ${from}: it cannot become ${to}`);
}

/** The API's view of a job. */
export function grantJson(g: Grant): Record<string, unknown> {
  const body: Record<string, unknown> = {
    grantId: g.grantId, templateId: g.templateId, state: g.state, total: g.total, granted: g.granted,
    refused: { ...g.refused }, failed: g.failed, ratePerSecond: g.ratePerSecond,
    startedAt: new Date(g.startedAt).toISOString(),
  };
  if (g.finishedAt !== null) body.finishedAt = new Date(g.finishedAt).toISOString();
  if (g.note !== null) body.note = g.note;
  return body;
}
