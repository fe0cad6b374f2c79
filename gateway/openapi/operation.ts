/**
 * One route's description in the registry: its parameters, body (with the example the OpenAPI
 * test sends), answers, and the error codes it can return, grouped by HTTP status with the
 * status table of http/errors.ts so a code's status is never written twice.
 */
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { ErrorCode } from '../../core/errors.ts';
import { z } from '../../core/zod.ts';
import { ERROR_STATUS, REFUSAL_STATUS, type Refusal } from '../http/errors.ts';

/** Who may call: the admin token, a user token (when USER_TOKEN_SECRETS is set), the order service's token (when set). */
export type Caller = 'admin' | 'user' | 'orderService';

/** A success answer: JSON with `schema`, or another content type (text). */
export interface Answer {
  readonly description: string;
  readonly schema: z.ZodType;
  readonly contentType?: string;
}

export interface OpSpec {
  readonly method: RouteConfig['method'];
  /** OpenAPI form: /v1/admin/templates/{id}. */
  readonly path: string;
  readonly tag: string;
  readonly summary: string;
  readonly caller?: Caller;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  /** Request bodies by content type; `example` is what the OpenAPI test sends. */
  readonly body?: Readonly<Record<string, { schema: z.ZodType; example?: unknown }>>;
  readonly answers: Readonly<Record<number, Answer>>;
  readonly errors: readonly ErrorCode[];
  /** Claim refusals (`{ status }` bodies) this route answers. */
  readonly refusals?: readonly Refusal[];
}

/** Every request body can fail these ways before it is parsed. */
export const BODY_ERRORS: readonly ErrorCode[] = ['bad_request', 'payload_too_large', 'unsupported_media_type', 'request_timeout'];
/** The admin gate: a missing or wrong token, or too many wrong ones from the address. */
export const ADMIN_ERRORS: readonly ErrorCode[] = ['unauthorized', 'rate_limited'];

const SECURITY: Record<Caller, string> = { admin: 'adminToken', user: 'userToken', orderService: 'orderServiceToken' };

/** The error body `{ error, message?, ...details }` with the codes one status carries on this route. */
function errorSchema(codes: readonly ErrorCode[]): z.ZodType {
  return z.looseObject({
    error: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
    message: z.string().optional(),
  }).openapi({ description: 'details of some codes (e.g. `reason` of not_applicable) ride beside error and message' });
}

/** Registers `o` as one operation. */
export function addOperation(reg: OpenAPIRegistry, o: OpSpec): void {
  const byStatus = new Map<number, { schemas: z.ZodType[]; contentType: string; description: string[] }>();
  const add = (status: number, schema: z.ZodType, description: string, contentType = 'application/json') => {
    const e = byStatus.get(status) ?? { schemas: [], contentType, description: [] };
    e.schemas.push(schema);
    e.description.push(description);
    byStatus.set(status, e);
  };
  for (const [status, a] of Object.entries(o.answers)) add(Number(status), a.schema, a.description, a.contentType);
  const codes = new Map<number, ErrorCode[]>();
  for (const c of new Set<ErrorCode>([...o.errors, 'internal'])) codes.set(ERROR_STATUS[c], [...(codes.get(ERROR_STATUS[c]) ?? []), c]);
  for (const [status, cs] of codes) add(status, errorSchema(cs), cs.join(', '));
  const refusals = new Map<number, Refusal[]>();
  for (const r of o.refusals ?? []) refusals.set(REFUSAL_STATUS[r], [...(refusals.get(REFUSAL_STATUS[r]) ?? []), r]);
  for (const [status, rs] of refusals) {
    add(status, z.object({ status: z.enum(rs as [Refusal, ...Refusal[]]) }).openapi({ description: 'a claim decided without a coupon' }), rs.join(', '));
  }
  const responses: RouteConfig['responses'] = {};
  for (const [status, e] of [...byStatus].sort(([a], [b]) => a - b)) {
    const schema = e.schemas.length === 1 ? e.schemas[0]! : z.union(e.schemas as [z.ZodType, z.ZodType, ...z.ZodType[]]);
    responses[status] = { description: e.description.join('; '), content: { [e.contentType]: { schema } } };
  }
  reg.registerPath({
    method: o.method, path: o.path, tags: [o.tag], summary: o.summary,
    ...(o.caller ? { security: [{ [SECURITY[o.caller]]: [] }] } : {}),
    request: {
      ...(o.params ? { params: o.params } : {}),
      ...(o.query ? { query: o.query } : {}),
      ...(o.body ? { body: { required: true, content: o.body } } : {}),
    },
    responses,
  });
}

/** A path parameter with the example the OpenAPI test sends. */
export function pathParam(schema: z.ZodType, example: string): z.ZodType {
  return schema.openapi({ param: { example }, example });
}
