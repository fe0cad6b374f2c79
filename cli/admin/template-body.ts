/**
 * The body of POST /v1/admin/templates from `templates create` flags, or from a JSON file with
 * flags on top. The CLI checks the fields with the API's own schema (templates/rules.ts), so a
 * misspelt field or a bad value is refused before any request; the API owns the rules between
 * fields (and the audience size of its config) and names the field it refuses.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { intArg } from '../command-line.ts';
import { ApiError } from '../../core/errors.ts';
import { parseBody } from '../../core/zod.ts';
import { templateCreateSchema } from '../../templates/rules.ts';

type Kind = 'int' | 'text' | 'list' | 'flag';

/** Every create flag, the body field it sets, and how its value is read. */
const FIELDS: readonly (readonly [flag: string, field: string, kind: Kind, help: string])[] = [
  ['id', 'id', 'text', 'template id (default: the API makes one)'],
  ['name', 'name', 'text', 'display name'],
  ['type', 'type', 'text', 'direct | threshold | discount | red_packet'],
  ['value', 'value', 'int', 'cents off (direct, threshold) or percent off (discount)'],
  ['total-stock', 'totalStock', 'int', 'coupons (or packets) in stock'],
  ['threshold', 'threshold', 'int', 'minimum order in cents'],
  ['max-discount', 'maxDiscount', 'int', 'cap in cents of a discount'],
  ['budget', 'budget', 'int', 'red packet: cents shared over all packets'],
  ['min-amount', 'minAmount', 'int', 'red packet: least cents of one packet'],
  ['per-user-limit', 'perUserLimit', 'int', 'coupons one user may claim (default 1)'],
  ['sub-stocks', 'subStocks', 'int', 'Redis sub-stocks (default: from the stock)'],
  ['valid-days', 'validDays', 'int', 'usable this many days after the claim'],
  ['valid-from', 'validFrom', 'text', 'fixed use window start (ISO 8601)'],
  ['valid-to', 'validTo', 'text', 'fixed use window end (ISO 8601)'],
  ['claim-start', 'claimStart', 'text', 'claims open (ISO 8601)'],
  ['claim-end', 'claimEnd', 'text', 'claims close (ISO 8601)'],
  ['stackable', 'stackable', 'flag', 'may be combined with other coupons in one order'],
  ['scope-categories', 'scope.categories', 'list', 'only these categories (a,b,...)'],
  ['scope-products', 'scope.products', 'list', 'only these products (a,b,...)'],
  ['exclude-categories', 'scope.excludeCategories', 'list', 'never these categories (a,b,...)'],
  ['exclude-products', 'scope.excludeProducts', 'list', 'never these products (a,b,...)'],
  ['audience', 'audience', 'list', 'the only users who may claim it (a,b,...)'],
];

const list = (raw: string) => raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
const attribute = (flag: string) => flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** Declares the create flags (and --file) on `cmd`. */
export function addTemplateFlags(cmd: Command): Command {
  cmd.option('--file <template.json>', 'the JSON body as the API takes it (flags given too win)');
  for (const [flag, , kind, help] of FIELDS) {
    const o = new Option(kind === 'flag' ? `--${flag}` : `--${flag} <${kind === 'list' ? 'ids' : kind === 'int' ? 'n' : 'text'}>`, help);
    if (kind === 'int') o.argParser(intArg(-1e12, 1e12));
    if (kind === 'list') o.argParser(list);
    cmd.addOption(o);
  }
  return cmd;
}

/** The body from the parsed options; throws InvalidArgumentError when there is nothing to send. */
export function templateBody(opts: Record<string, unknown>): Record<string, unknown> {
  const body = opts.file === undefined ? {} : readJson(String(opts.file));
  let given = opts.file !== undefined;
  for (const [flag, field] of FIELDS) {
    const v = opts[attribute(flag)];
    if (v === undefined) continue;
    given = true;
    const [top, sub] = field.split('.') as [string, string | undefined];
    if (sub === undefined) body[top] = v;
    else body[top] = { ...(body[top] as object | undefined), [sub]: v };
  }
  if (!given) throw new InvalidArgumentError('give the template as flags (--name, --type, --value, --total-stock, ...) or --file');
  try {
    parseBody(FIELD_SCHEMA, body);
  } catch (err) {
    if (err instanceof ApiError) throw new InvalidArgumentError(err.message);
    throw err;
  }
  return body;
}

// The audience size is the API's setting (TEMPLATE_AUDIENCE_MAX): it checks that one itself.
const FIELD_SCHEMA = templateCreateSchema({ audienceMax: Number.MAX_SAFE_INTEGER });

function readJson(file: string): Record<string, unknown> {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`--file: cannot read ${file}: ${(err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`--file: ${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidArgumentError(`--file: ${file} must hold a JSON object`);
  return body as Record<string, unknown>;
}
