/**
 * Reading an OpenAPI 3.1 document in tests: its structure and $refs, its operations, the
 * example request of each, and an ajv (JSON Schema 2020-12) validator of its answers.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { ValidateFunction } from 'ajv';

// ajv-formats is CommonJS: under Node's ESM loader its function is the default export's default.
const addFormats = ((addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? addFormatsModule) as FormatsPlugin;

export type Json = any;

export interface Operation {
  /** `POST /v1/admin/templates/{id}`. */
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly op: Json;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Problems with the document's top-level shape and its $refs (empty when there are none). */
export function structureProblems(doc: Json): string[] {
  const out: string[] = [];
  if (typeof doc?.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) out.push(`openapi: ${doc?.openapi} is not 3.1.x`);
  if (typeof doc?.info?.title !== 'string' || typeof doc?.info?.version !== 'string') out.push('info: needs title and version');
  if (typeof doc?.paths !== 'object' || doc.paths === null) out.push('paths: missing');
  for (const { key, op } of operations(doc)) {
    if (typeof op.responses !== 'object' || Object.keys(op.responses).length === 0) out.push(`${key}: no responses`);
    for (const [status, r] of Object.entries<Json>(op.responses ?? {})) {
      if (!/^[1-5]\d\d$/.test(status)) out.push(`${key}: response ${status} is not a status`);
      if (typeof r.description !== 'string') out.push(`${key} ${status}: no description`);
    }
    const names = new Set<string>();
    for (const p of op.parameters ?? []) {
      if (names.has(`${p.in}:${p.name}`)) out.push(`${key}: parameter ${p.name} twice`);
      names.add(`${p.in}:${p.name}`);
    }
    for (const [, name] of key.matchAll(/\{(\w+)\}/g)) if (!names.has(`path:${name}`)) out.push(`${key}: path parameter ${name} undocumented`);
  }
  walk(doc, (ref, at) => { if (resolve(doc, ref) === undefined) out.push(`${at}: $ref ${ref} does not resolve`); }, '#');
  return out;
}

function walk(v: Json, onRef: (ref: string, at: string) => void, at: string): void {
  if (Array.isArray(v)) v.forEach((x, i) => walk(x, onRef, `${at}/${i}`));
  else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') onRef(x, at);
      else walk(x, onRef, `${at}/${k}`);
    }
  }
}

/** The value a local $ref (#/a/b) names, or undefined. */
export function resolve(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) return undefined;
  let v = doc;
  for (const part of ref.slice(2).split('/')) {
    const k = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof v !== 'object' || v === null || !(k in v)) return undefined;
    v = v[k];
  }
  return v;
}

/** Every operation of the document, in its order. */
export function operations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(doc?.paths ?? {})) {
    for (const m of METHODS) if (item[m]) out.push({ key: `${m.toUpperCase()} ${path}`, method: m.toUpperCase(), path, op: item[m] });
  }
  return out;
}

/** `/v1/x/:id` and `/v1/x/{id}` both as `/v1/x/{}`: uWS names its parameters for people only. */
export const shapeOf = (path: string): string => path.replace(/:\w+|\{\w+\}/g, '{}');

const enc = (p: string) => p.replace(/~/g, '~0').replace(/\//g, '~1');

/** Validates answers against the document's response schemas (refs to its components resolve). */
export class AnswerValidator {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly cache = new Map<string, ValidateFunction>();
  constructor(doc: Json) {
    addFormats(this.ajv);
    this.ajv.addSchema(doc, 'openapi.json');
  }
  /** Errors of `body` against the schema of `o`'s answer `status` in `mediaType` (null when it conforms). */
  errors(o: Operation, status: number, mediaType: string, body: unknown): string | null {
    const ptr = `openapi.json#/paths/${enc(o.path)}/${o.method.toLowerCase()}/responses/${status}/content/${enc(mediaType)}/schema`;
    const v = this.cache.get(ptr) ?? this.ajv.compile({ $ref: ptr });
    this.cache.set(ptr, v);
    return v(body) ? null : this.ajv.errorsText(v.errors);
  }
}
