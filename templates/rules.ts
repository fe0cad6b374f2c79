/**
 * Template rules: a creation request and a live change (PATCH) are validated field by field by
 * their zod schemas (which also describe them in the OpenAPI document), then as a whole here;
 * every refusal is a 400 that names the field and says why.
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from '../core/errors.ts';
import { idSchema, intSchema, parseBody, z } from '../core/zod.ts';
import { ALL_PRODUCTS, defaultSubStocks, type Template, TEMPLATE_STATUSES, TEMPLATE_TYPES,
  type TemplateStatus } from './model.ts';
import { audienceField, bad, boolField, distinct, MAX_CENTS, nameField, optInt, scopeField, timeField, timeMs } from './rule-fields.ts';

export interface RuleDefaults {
  readonly partitions: number;
  readonly defaultValidDays: number;
  /** Most users a named audience may list. */
  readonly audienceMax: number;
}

/** The body of POST /v1/admin/templates; the rules between fields are checked by parseTemplate. */
export function templateCreateSchema(d: Pick<RuleDefaults, 'audienceMax'>) {
  return z.strictObject({
    id: idSchema.optional().openapi({ description: 'default: a generated t_... id' }),
    name: nameField,
    type: z.enum(TEMPLATE_TYPES, { error: `must be one of ${TEMPLATE_TYPES.join(', ')}` }),
    value: optInt(1, MAX_CENTS).openapi({ description: 'cents off (direct, threshold) or percent off 1-99 (discount); required unless red_packet, where it is refused' }),
    threshold: optInt(1, MAX_CENTS).openapi({ description: 'minimum order in cents: required for threshold, optional for discount' }),
    maxDiscount: optInt(1, MAX_CENTS).openapi({ description: 'cap in cents of a discount (discount only)' }),
    budget: optInt(1, MAX_CENTS).openapi({ description: 'red_packet only, required: cents shared out over totalStock packets' }),
    minAmount: optInt(1, MAX_CENTS).openapi({ description: 'red_packet only: least cents of one packet (default 1)' }),
    totalStock: intSchema(1, 1e9),
    perUserLimit: optInt(1, 100).openapi({ description: 'default 1' }),
    claimStart: timeField,
    claimEnd: timeField,
    validFrom: timeField.openapi({ description: 'fixed use window (with validTo), or validDays' }),
    validTo: timeField,
    validDays: optInt(1, 3650).openapi({ description: 'days of use after the claim (default VALID_DAYS_DEFAULT)' }),
    subStocks: optInt(1, 64).openapi({ description: 'Redis sub-stocks, at most min(64, partitions, totalStock); default from the stock' }),
    scope: scopeField.optional(),
    stackable: boolField,
    audience: audienceField(d.audienceMax),
  }).openapi('TemplateCreate', {
    example: { id: 'rain-2026', name: '20:00 rain', type: 'direct', value: 500, totalStock: 1000 },
  });
}

/** The body of PATCH /v1/admin/templates/{id}: the fields safe to change while live. */
export function templatePatchSchema(d: Pick<RuleDefaults, 'audienceMax'>) {
  return z.strictObject({
    name: nameField.optional(),
    claimStart: timeField,
    claimEnd: timeField,
    status: z.enum(TEMPLATE_STATUSES, { error: `must be one of ${TEMPLATE_STATUSES.join(', ')}` }).optional(),
    perUserLimit: optInt(1, 100),
    scope: scopeField.nullish().openapi({ description: 'null: every product' }),
    stackable: boolField,
    audience: audienceField(d.audienceMax),
    version: optInt(1, Number.MAX_SAFE_INTEGER).openapi({ description: 'apply only to this version (409 version_conflict otherwise)' }),
  }).openapi('TemplatePatch', { example: { status: 'paused' } });
}

type CreateSchema = ReturnType<typeof templateCreateSchema>;
type PatchSchema = ReturnType<typeof templatePatchSchema>;
type CreateBody = z.output<CreateSchema>;

// One pair of schemas per defaults object (a gateway has one): built once, not per request.
const built = new WeakMap<RuleDefaults, { create: CreateSchema; patch: PatchSchema }>();
function schemasOf(d: RuleDefaults): { create: CreateSchema; patch: PatchSchema } {
  let s = built.get(d);
  if (!s) built.set(d, s = { create: templateCreateSchema(d), patch: templatePatchSchema(d) });
  return s;
}

const CREATE_FIELDS: ReadonlySet<string> = new Set(Object.keys(templateCreateSchema({ audienceMax: 1 }).shape));

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

const given = (v: number | null | undefined): number | undefined => v ?? undefined;

type Money = Pick<Template, 'type' | 'value' | 'threshold' | 'maxDiscount' | 'budget' | 'minAmount'>;

/**
 * A red packet's money: a budget shared out over its packets, each at least minAmount. A fixed
 * value, a threshold or a discount cap would contradict the random amount: refused by name.
 */
function packetMoney(o: CreateBody): Money {
  for (const f of ['value', 'threshold', 'maxDiscount'] as const) {
    if (o[f] !== undefined) bad(f, 'is not allowed for type red_packet (each packet draws its amount from budget)');
  }
  const budget = given(o.budget);
  if (budget === undefined) bad('budget', 'is required for type red_packet: cents shared out over totalStock packets');
  return { type: 'red_packet', value: 0, threshold: null, maxDiscount: null, budget, minAmount: given(o.minAmount) ?? 1 };
}

/** Money rules of a new template (they never change afterwards). */
function money(o: CreateBody): Money {
  const type = o.type;
  if (type === 'red_packet') return packetMoney(o);
  for (const f of ['budget', 'minAmount'] as const) if (o[f] !== undefined) bad(f, 'is only allowed for type red_packet');
  const value = given(o.value);
  if (value === undefined) bad('value', type === 'discount' ? 'percent off (1-99) is required' : 'cents off is required');
  if (type === 'discount' && value > 99) bad('value', 'must be between 1 and 99');
  const threshold = o.threshold ?? null;
  if (type === 'threshold' && threshold === null) bad('threshold', 'is required for type threshold');
  if (type === 'threshold' && value > threshold!) bad('value', 'cannot exceed threshold');
  if (type === 'direct' && threshold !== null) bad('threshold', 'is not allowed for type direct (use type threshold)');
  const maxDiscount = o.maxDiscount ?? null;
  if (type !== 'discount' && maxDiscount !== null) bad('maxDiscount', 'is only allowed for type discount');
  return { type, value, threshold, maxDiscount, budget: null, minAmount: null };
}

/** Use window: fixed dates or days after the claim, never both. */
function useWindow(o: CreateBody, d: RuleDefaults): Pick<Template, 'validFrom' | 'validTo' | 'validDays'> {
  const validFrom = timeMs(o.validFrom);
  const validTo = timeMs(o.validTo);
  const validDays = given(o.validDays);
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
  const o = parseBody(schemasOf(d).create, body);
  const id = o.id ?? `t_${randomBytes(9).toString('base64url').replace(/-/g, '_')}`;
  const totalStock = o.totalStock;
  const maxSubs = Math.min(64, d.partitions, totalStock);
  const subStocks = given(o.subStocks);
  if (subStocks !== undefined && subStocks > maxSubs) bad('subStocks', `must be between 1 and ${maxSubs}`);
  const t: Template = {
    id, name: o.name.trim(), ...money(o), totalStock,
    perUserLimit: given(o.perUserLimit) ?? 1,
    subStocks: subStocks ?? defaultSubStocks(totalStock, d.partitions),
    claimStart: timeMs(o.claimStart), claimEnd: timeMs(o.claimEnd), ...useWindow(o, d),
    scope: o.scope === undefined ? ALL_PRODUCTS : scopeOf(o.scope),
    stackable: o.stackable ?? false,
    audience: o.audience ? distinct(o.audience) : null,
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

/** A parsed scope with every list present and without repeats. */
function scopeOf(s: z.output<typeof scopeField>): Template['scope'] {
  return {
    categories: distinct(s.categories ?? []), products: distinct(s.products ?? []),
    excludeCategories: distinct(s.excludeCategories ?? []), excludeProducts: distinct(s.excludeProducts ?? []),
  };
}

export interface Patch {
  /** When set, the change applies only to this version (optimistic concurrency: 409 otherwise). */
  readonly expectVersion: number | undefined;
  /** Applies the change to the current template (the store bumps the version). */
  readonly apply: (t: Template) => Template;
}

/** Parses a PATCH body; the changes are checked against the whole template when applied. */
export function parsePatch(body: unknown, d: RuleDefaults): Patch {
  const o = parseBody(schemasOf(d).patch, body, fixedField);
  if (Object.keys(o).filter((k) => k !== 'version').length === 0) bad('body', 'names no field to change');
  const change: Partial<Template> = {};
  const set = <K extends keyof Template>(k: K, v: Template[K]) => { change[k] = v; };
  if (o.name !== undefined) set('name', o.name.trim());
  if ('claimStart' in o) set('claimStart', timeMs(o.claimStart));
  if ('claimEnd' in o) set('claimEnd', timeMs(o.claimEnd));
  if (o.status !== undefined) set('status', o.status as TemplateStatus);
  if (o.perUserLimit != null) set('perUserLimit', o.perUserLimit);
  if (o.scope !== undefined) set('scope', o.scope === null ? ALL_PRODUCTS : scopeOf(o.scope));
  if (o.stackable !== undefined) set('stackable', o.stackable);
  if ('audience' in o) set('audience', o.audience ? distinct(o.audience) : null);
  const expectVersion = given(o.version);
  return {
    expectVersion,
    apply: (t) => {
      const next = { ...t, ...change };
      checkWhole(next);
      return next;
    },
  };
}
