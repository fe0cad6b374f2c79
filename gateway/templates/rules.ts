/** Validation of a template creation request: every field checked, unknown fields refused. */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../http/errors.ts';
import { isId } from '../validate.ts';
import { defaultSubStocks, type Template, TEMPLATE_TYPES, type TemplateType } from './model.ts';

const FIELDS = new Set(['id', 'name', 'type', 'value', 'threshold', 'maxDiscount', 'totalStock',
  'perUserLimit', 'claimStart', 'claimEnd', 'validDays', 'subStocks']);

const MAX_CENTS = 1e12;
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);

function bad(field: string, why: string): never {
  throw new ApiError('bad_request', `${field}: ${why}`);
}

function int(o: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(field, 'must be an integer');
  if (v < min || v > max) bad(field, `must be between ${min} and ${max}`);
  return v;
}

function time(o: Record<string, unknown>, field: string): number | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(v)) bad(field, 'must be an ISO 8601 date-time');
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) bad(field, 'must be an ISO 8601 date-time');
  if (ms < MIN_TIME || ms > MAX_TIME) bad(field, 'must be between 2000 and 2100');
  return ms;
}

export interface RuleDefaults {
  readonly partitions: number;
  readonly defaultValidDays: number;
}

/** Turns a POST body into a new template, or throws 400 naming the field and the reason. */
export function parseTemplate(body: unknown, d: RuleDefaults, now: number): Template {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('body', 'must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) bad(k, 'unknown field');

  const id = o.id === undefined ? `t_${randomBytes(9).toString('base64url').replace(/-/g, '_')}` : o.id;
  if (typeof id !== 'string' || !isId(id)) bad('id', 'must be 1-64 characters of [A-Za-z0-9_.:-]');
  if (typeof o.name !== 'string' || o.name.trim() === '' || o.name.length > 200) bad('name', 'must be a string of 1-200 characters');
  if (/[\u0000-\u001f\u007f]/.test(o.name)) bad('name', 'must not contain control characters');
  if (!TEMPLATE_TYPES.includes(o.type as TemplateType)) bad('type', `must be one of ${TEMPLATE_TYPES.join(', ')}`);
  const type = o.type as TemplateType;

  const value = type === 'discount' ? int(o, 'value', 1, 99) : int(o, 'value', 1, MAX_CENTS);
  if (value === undefined) bad('value', type === 'discount' ? 'percent off (1-99) is required' : 'cents off is required');
  const threshold = int(o, 'threshold', 1, MAX_CENTS) ?? null;
  if (type === 'threshold' && threshold === null) bad('threshold', 'is required for type threshold');
  if (type === 'threshold' && value > threshold!) bad('value', 'cannot exceed threshold');
  if (type === 'direct' && threshold !== null) bad('threshold', 'is not allowed for type direct');
  const maxDiscount = int(o, 'maxDiscount', 1, MAX_CENTS) ?? null;
  if (type !== 'discount' && maxDiscount !== null) bad('maxDiscount', 'is only allowed for type discount');

  const totalStock = int(o, 'totalStock', 1, 1e9);
  if (totalStock === undefined) bad('totalStock', 'is required');
  const perUserLimit = int(o, 'perUserLimit', 1, 100) ?? 1;
  const claimStart = time(o, 'claimStart');
  const claimEnd = time(o, 'claimEnd');
  if (claimStart !== null && claimEnd !== null && claimEnd <= claimStart) bad('claimEnd', 'must be after claimStart');
  const validDays = int(o, 'validDays', 1, 3650) ?? d.defaultValidDays;
  const maxSubs = Math.min(64, d.partitions, totalStock);
  const subStocks = int(o, 'subStocks', 1, maxSubs) ?? defaultSubStocks(totalStock, d.partitions);

  return {
    id, name: o.name.trim(), type, value, threshold, maxDiscount, totalStock, perUserLimit, subStocks,
    claimStart, claimEnd, validDays, status: 'active', version: 1, createdAt: now,
  };
}
