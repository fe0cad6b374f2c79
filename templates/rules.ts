/**
 * Template rules: a creation request and a live change (PATCH) are validated field by field and
 * then as a whole; every refusal is a 400 that names the field and says why.
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../core/errors.ts';
import { isId } from '../core/ids.ts';
import { ALL_PRODUCTS, defaultSubStocks, type Template, TEMPLATE_STATUSES, TEMPLATE_TYPES,
  type TemplateStatus, type TemplateType } from './model.ts';
import { audience, bad, type Body, boolean, int, MAX_CENTS, name, object, scope, time } from './rule-fields.ts';

export interface RuleDefaults {
  readonly partitions: number;
  readonly defaultValidDays: number;
  /** Most users a named audience may list. */
  readonly audienceMax: number;
}

const CREATE_FIELDS = new Set(['id', 'name', 'type', 'value', 'threshold', 'maxDiscount', 'budget', 'minAmount', 'totalStock',
  'perUserLimit', 'claimStart', 'claimEnd', 'validFrom', 'validTo', 'validDays', 'subStocks', 'scope',
  'stackable', 'audience']);

/** Fields safe to change while the template is live; the rest are fixed at creation. */
const PATCH_FIELDS = new Set(['name', 'claimStart', 'claimEnd', 'status', 'perUserLimit', 'scope', 'stackable',
  'audience', 'version']);

const FIXED_WHY: Record<string, string> = {
  totalStock: 'change it with POST /v1/admin/templates/{id}/stock',
  subStocks: 'the stock layout is fixed for the life of the template',
};

function fixedField(k: string): string {
  if (FIXED_WHY[k]) return `cannot be changed here: ${FIXED_WHY[k]}`;
  // Issued coupon rows copy the money and the use window: changing them would make coupons of
  // one template differ depending on when they were claimed.
  return CREATE_FIELDS.has(k) ? 'cannot be changed after creation (issued coupons carry it)' : 'unknown field';
}

type Money = Pick<Template, 'type' | 'value' | 'threshold' | 'maxDiscount' | 'budget' | 'minAmount'>;

/**
 * A red packet's money: a budget shared out over its packets, each at least minAmount. A fixed
 * value, a threshold or a discount cap would contradict the random amount: refused by name.
 */
function packetMoney(o: Body): Money {
  for (const f of ['value', 'threshold', 'maxDiscount']) {
    if (o[f] !== undefined) bad(f, 'is not allowed for type red_packet (each packet draws its amount from budget)');
  }
  const budget = int(o, 'budget', 1, MAX_CENTS);
  if (budget === undefined) bad('budget', 'is required for type red_packet: cents shared out over totalStock packets');
  const minAmount = int(o, 'minAmount', 1, MAX_CENTS) ?? 1;
  return { type: 'red_packet', value: 0, threshold: null, maxDiscount: null, budget, minAmount };
}

/** Money rules of a new template (they never change afterwards). */
function money(o: Body): Money {
  if (!TEMPLATE_TYPES.includes(o.type as TemplateType)) bad('type', `must be one of ${TEMPLATE_TYPES.join(', ')}`);
  const type = o.type as TemplateType;
  if (type === 'red_packet') return packetMoney(o);
  for (const f of ['budget', 'minAmount']) if (o[f] !== undefined) bad(f, 'is only allowed for type red_packet');
  const value = type === 'discount' ? int(o, 'value', 1, 99) : int(o, 'value', 1, MAX_CENTS);
  if (value === undefined) bad('value', type === 'discount' ? 'percent off (1-99) is required' : 'cents off is required');
  const threshold = int(o, 'threshold', 1, MAX_CENTS) ?? null;
  if (type === 'threshold' && threshold === null) bad('threshold', 'is required for type threshold');
  if (type === 'threshold' && value > threshold!) bad('value', 'cannot exceed threshold');
  if (type === 'direct' && threshold !== null) bad('threshold', 'is not allowed for type direct (use type threshold)');
  const maxDiscount = int(o, 'maxDiscount', 1, MAX_CENTS) ?? null;
  if (type !== 'discount' && maxDiscount !== null) bad('maxDiscount', 'is only allowed for type discount');
  return { type, value, threshold, maxDiscount, budget: null, minAmount: null };
}

/** Use window: fixed dates or days after the claim, never both. */
function useWindow(o: Body, d: RuleDefaults): Pick<Template, 'validFrom' | 'validTo' | 'validDays'> {
  const validFrom = time(o, 'validFrom');
  const validTo = time(o, 'validTo');
  const validDays = int(o, 'validDays', 1, 3650);
  if (validFrom === null && validTo === null) return { validFrom, validTo, validDays: validDays ?? d.defaultValidDays };
  if (validDays !== undefined) bad('validDays', 'cannot be combined with fixed dates validFrom/validTo');
  if (validFrom === null) bad('validFrom', 'is required with validTo');
  if (validTo === null) bad('validTo', 'is required with validFrom');
  if (validTo <= validFrom) bad('validTo', 'must be after validFrom');
  return { validFrom, validTo, validDays: null };
}

/** Rules that tie fields together; checked on create and after every change. */
function checkWhole(t: Template): void {
  if (t.claimStart !== null && t.claimEnd !== null && t.claimEnd <= t.claimStart) bad('claimEnd', 'must be after claimStart');
  if (t.validTo !== null) {
    // A claim after validTo would hand out a coupon that is already expired.
    if (t.claimEnd === null) bad('claimEnd', 'is required when the use window has fixed dates');
    if (t.claimEnd > t.validTo) bad('claimEnd', 'must not be after validTo (claims would get expired coupons)');
  }
}

/** Turns a POST body into a new template, or throws 400 naming the field and the reason. */
export function parseTemplate(body: unknown, d: RuleDefaults, now: number): Template {
  const o = object(body, CREATE_FIELDS);
  const id = o.id === undefined ? `t_${randomBytes(9).toString('base64url').replace(/-/g, '_')}` : o.id;
  if (typeof id !== 'string' || !isId(id)) bad('id', 'must be 1-64 characters of [A-Za-z0-9_.:-]');
  const totalStock = int(o, 'totalStock', 1, 1e9);
  if (totalStock === undefined) bad('totalStock', 'is required');
  const maxSubs = Math.min(64, d.partitions, totalStock);
  const t: Template = {
    id, name: name(o), ...money(o), totalStock,
    perUserLimit: int(o, 'perUserLimit', 1, 100) ?? 1,
    subStocks: int(o, 'subStocks', 1, maxSubs) ?? defaultSubStocks(totalStock, d.partitions),
    claimStart: time(o, 'claimStart'), claimEnd: time(o, 'claimEnd'), ...useWindow(o, d),
    scope: o.scope === undefined ? ALL_PRODUCTS : scope(o.scope),
    stackable: boolean(o, 'stackable') ?? false,
    audience: audience(o, d.audienceMax),
    status: 'active', version: 1, createdAt: now, updatedAt: now,
  };
  if (t.validTo !== null && t.validTo <= now) bad('validTo', 'is already in the past');
  // Every packet must be able to get its minimum: the draw relies on it to end exactly at 0.
  if (t.budget !== null && t.budget < t.totalStock * t.minAmount!) {
    throw new ApiError('budget_too_small', `budget: ${t.budget} is less than totalStock × minAmount (${t.totalStock} × ${t.minAmount})`);
  }
  checkWhole(t);
  return t;
}

export interface Patch {
  /** When set, the change applies only to this version (optimistic concurrency: 409 otherwise). */
  readonly expectVersion: number | undefined;
  /** Applies the change to the current template (the store bumps the version). */
  readonly apply: (t: Template) => Template;
}

/** Parses a PATCH body; the changes are checked against the whole template when applied. */
export function parsePatch(body: unknown, d: RuleDefaults): Patch {
  const o = object(body, PATCH_FIELDS, fixedField);
  if (Object.keys(o).filter((k) => k !== 'version').length === 0) bad('body', 'names no field to change');
  const change: Partial<Template> = {};
  const set = <K extends keyof Template>(k: K, v: Template[K]) => { change[k] = v; };
  if (o.name !== undefined) set('name', name(o));
  if ('claimStart' in o) set('claimStart', time(o, 'claimStart'));
  if ('claimEnd' in o) set('claimEnd', time(o, 'claimEnd'));
  if (o.status !== undefined) {
    if (!TEMPLATE_STATUSES.includes(o.status as TemplateStatus)) bad('status', `must be one of ${TEMPLATE_STATUSES.join(', ')}`);
    set('status', o.status as TemplateStatus);
  }
  const limit = int(o, 'perUserLimit', 1, 100);
  if (limit !== undefined) set('perUserLimit', limit);
  if (o.scope !== undefined) set('scope', o.scope === null ? ALL_PRODUCTS : scope(o.scope));
  const stackable = boolean(o, 'stackable');
  if (stackable !== undefined) set('stackable', stackable);
  if ('audience' in o) set('audience', audience(o, d.audienceMax));
  const expectVersion = int(o, 'version', 1, Number.MAX_SAFE_INTEGER);
  return {
    expectVersion,
    apply: (t) => {
      const next = { ...t, ...change };
      checkWhole(next);
      return next;
    },
  };
}
