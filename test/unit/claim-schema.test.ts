/**
 * The claim's hand-tuned parser (routes/claim.ts, ~97 ns) and the zod schema that describes its
 * body in the OpenAPI document (openapi/shapes.ts) agree on a corpus of bodies: the same ones
 * accepted, with the same values, and the same ones refused. So do the batch's and the
 * redemption's parsers and schemas, which share the claim's rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../core/errors.ts';
import type { z } from '../../core/zod.ts';
import { decodeBody } from '../../gateway/http/codec.ts';
import { claimBatchBodySchema, claimBodySchema, redeemBodySchema } from '../../gateway/openapi/shapes.ts';
import { parseClaim } from '../../gateway/routes/claim.ts';
import { parseBatch } from '../../gateway/routes/claim-batch.ts';
import { parseRedeem } from '../../gateway/routes/redeem.ts';

const id64 = 'a'.repeat(64);
const j = JSON.stringify;

// Raw JSON bodies, as clients send them: valid, at the edges, and wrong in every way we know.
const CLAIMS: readonly string[] = [
  j({ userId: 'u1', templateId: 't1' }), j({ userId: 'u1', templateId: 't1', requestId: 'r-1' }),
  j({ templateId: 't1', userId: 'u1' }), j({ userId: id64, templateId: id64, requestId: id64 }),
  j({ userId: 'A.b:c-d_9', templateId: 'T', requestId: 'code:' }), j({ userId: 'u', templateId: 't', requestId: 'Code:1' }),
  j({ userId: 'u', templateId: 't', requestId: 'code:12345678901234' }), j({ userId: 'u', templateId: 't', requestId: 'code:1' }),
  j({ userId: 'u', templateId: 't', requestId: 'code:1234567890123' }),
  j({ userId: `${id64}a`, templateId: 't' }), j({ userId: '', templateId: 't' }), j({ userId: 'u', templateId: '' }),
  j({ userId: 'u', templateId: 't', requestId: '' }), j({ userId: 'u', templateId: 't', requestId: null }),
  j({ userId: 'u' }), j({ templateId: 't' }), j({}), '[]', 'null', '"u1"', '123', 'true', '[{"userId":"u","templateId":"t"}]',
  j({ userId: 1, templateId: 't' }), j({ userId: 'u', templateId: 7 }), j({ userId: null, templateId: 't' }),
  j({ userId: ['u'], templateId: 't' }), j({ userId: { id: 'u' }, templateId: 't' }), j({ userId: true, templateId: 't' }),
  '{"userId":1e400,"templateId":"t"}', '{"userId":"u","templateId":"t","requestId":123456789012345678901234567890}',
  j({ userId: 'u', templateId: 't', extra: 1 }), j({ userId: 'u', templateId: 't', UserId: 'u' }),
  j({ userId: 'ü', templateId: 't' }), j({ userId: '用户', templateId: 't' }), j({ userId: 'u', templateId: '😀' }),
  j({ userId: 'u 1', templateId: 't' }), j({ userId: 'u\n', templateId: 't' }), j({ userId: ' u', templateId: 't' }),
  j({ userId: 'u/1', templateId: 't' }), j({ userId: 'u', templateId: 't%20' }), '{"userId":"u\\u0000","templateId":"t"}',
  '{"userId":"a","userId":"b","templateId":"t"}', '{"userId":"u","templateId":"t","templateId":"t2"}',
  '{"userId":"u","templateId":"t","requestId":"r","requestId":7}',
  '{"__proto__":{"x":1},"userId":"u","templateId":"t"}', '{"constructor":"x","userId":"u","templateId":"t"}',
  '{"toString":"x","userId":"u","templateId":"t"}',
];

const BATCHES: readonly string[] = [
  j({ userId: 'u', templateIds: ['t1'] }), j({ userId: 'u', templateIds: ['t1', 'T1'], requestId: 'r' }),
  j({ userId: 'u', templateIds: Array.from({ length: 20 }, (_, i) => `t${i}`) }),
  j({ userId: 'u', templateIds: Array.from({ length: 21 }, (_, i) => `t${i}`) }), j({ userId: 'u', templateIds: [] }),
  j({ userId: 'u', templateIds: ['t', 't'] }), j({ userId: 'u', templateIds: 't' }), j({ userId: 'u', templateIds: [1] }),
  j({ userId: 'u', templateIds: ['ü'] }), j({ userId: 'u', templateIds: ['t'], requestId: 'code:9' }),
  j({ userId: 'u', templateIds: ['t'], x: 1 }), j({ templateIds: ['t'] }), j({ userId: 'u', templateIds: [null] }), '[]',
];

const REDEEMS: readonly string[] = [
  j({ userId: 'u', code: 'ABCD-EFGH-JKLM-NPQR-STUV' }), j({ userId: 'u', code: 'x' }), j({ userId: 'u', code: 'c'.repeat(64) }),
  j({ userId: 'u', code: 'c'.repeat(65) }), j({ userId: 'u', code: '' }), j({ userId: 'u', code: 5 }), j({ userId: 'u' }),
  j({ userId: 'u', code: 'ü 😀' }), j({ userId: 'u', code: 'c', requestId: 'code:1' }), j({ userId: 'u', code: 'c', templateId: 't' }),
];

/** What the hand parser makes of a body: its value, or the code it refused with. */
function byHand(f: (o: unknown) => unknown, body: unknown): { ok: true; value: unknown } | { ok: false; code: string } {
  try {
    // An absent optional field is the same value whether it is left out or set to undefined.
    return { ok: true, value: Object.fromEntries(Object.entries(f(body) as object).filter(([, v]) => v !== undefined)) };
  } catch (err) {
    assert.ok(err instanceof ApiError, `not an ApiError: ${String(err)}`);
    return { ok: false, code: err.code };
  }
}

function agree(corpus: readonly string[], parse: (o: unknown) => unknown, schema: z.ZodType): void {
  for (const raw of corpus) {
    const hand = byHand(parse, decodeBody(Buffer.from(raw), 'json'));
    const doc = schema.safeParse(decodeBody(Buffer.from(raw), 'json'));
    assert.equal(doc.success, hand.ok, `${raw}: the parser ${hand.ok ? 'accepts' : 'refuses'} it, the schema does not`);
    if (hand.ok && doc.success) assert.deepEqual(doc.data, hand.value, raw);
    if (!hand.ok) assert.equal(hand.code, 'bad_request', raw);
  }
}

test('the claim parser and the claim schema agree', () => agree(CLAIMS, (o) => parseClaim(o), claimBodySchema));

test('the batch parser and the batch schema agree', () => agree([...CLAIMS, ...BATCHES], (o) => parseBatch(o), claimBatchBodySchema));

test('the redemption parser and the redemption schema agree', () => agree([...CLAIMS, ...REDEEMS], (o) => parseRedeem(o), redeemBodySchema));

test('bodies that are not JSON never reach either: the decoder refuses them', () => {
  for (const raw of ['', ' ', '{', '{"userId":"u",}', "{'userId':'u'}", 'NaN', '\u00ff']) {
    assert.throws(() => decodeBody(Buffer.from(raw), 'json'), (e: unknown) => e instanceof ApiError && e.code === 'bad_request', raw);
  }
});
