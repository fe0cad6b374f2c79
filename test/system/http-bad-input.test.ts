/** Bad input gets a clear 4xx with a stable code, and the gateway process stays up. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { Packr, pack, unpack } from 'msgpackr';
import { ADMIN, createTemplate, http } from '../support/http.ts';
import { type GatewayProc, spawnGateway } from '../support/processes.ts';
import { openStorage, type Storage, testConfig, testEnv } from '../../tools/harness/storage.ts';

const env = testEnv();
let s: Storage;
let gw: GatewayProc;
let templateId: string;

before(async () => {
  s = await openStorage(testConfig(env));
  gw = await spawnGateway(env);
  templateId = (await createTemplate(gw.url, { name: 'x', type: 'direct', value: 1, totalStock: 100 })).id;
});
after(async () => {
  await gw?.stop();
  await s?.close();
});

const claim = (body: unknown, headers: Record<string, string> = {}) => http('POST', `${gw.url}/v1/claim`, body, headers);

function expectError(r: { status: number; json: any; raw: Buffer }, status: number, code: string) {
  assert.equal(r.status, status, r.raw.toString());
  assert.equal(r.json?.error, code, r.raw.toString());
}

test('claim: malformed JSON, wrong shapes and types are 400 bad_request', async () => {
  for (const body of ['{', '{"userId":', 'null', '[]', '"x"', '42', '{"userId":"a","templateId":"b",}']) {
    expectError(await claim(body), 400, 'bad_request');
  }
  for (const body of [
    { userId: 1, templateId: templateId },
    { userId: 'a', templateId: ['x'] },
    { userId: 'a' },
    { templateId },
    { userId: 'a', templateId, requestId: 7 },
    { userId: '', templateId },
    { userId: 'a'.repeat(65), templateId },
    { userId: 'a b', templateId },
    { userId: 'ü', templateId },
    { userId: 'a', templateId, requestId: 'x/y' },
  ]) {
    const r = await claim(body);
    expectError(r, 400, 'bad_request');
    assert.match(r.json.message, /userId|templateId|requestId/);
  }
});

test('claim: unknown fields are refused, including __proto__', async () => {
  const r = await claim({ userId: 'a', templateId, coupon: 'free' });
  expectError(r, 400, 'bad_request');
  assert.match(r.json.message, /coupon: unknown field/);
  expectError(await claim(`{"userId":"a","templateId":"${templateId}","__proto__":{"x":1}}`), 400, 'bad_request');
});

test('claim: wrong or missing content type is 415, empty body 400', async () => {
  expectError(await claim('{}', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  expectError(await claim('{}', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  expectError(await http('POST', `${gw.url}/v1/claim`), 415, 'unsupported_media_type');
  expectError(await claim('', { 'content-type': 'application/json' }), 400, 'bad_request');
});

test('claim: a body over the cap is 413, declared or streamed', async () => {
  expectError(await claim(`{"userId":"${'a'.repeat(10_000)}"}`), 413, 'payload_too_large');
  // Chunked: no Content-Length, so the cap must hold while reading.
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${gw.url}/v1/claim`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    for (let i = 0; i < 20; i++) req.write('x'.repeat(1000));
    req.end();
  });
  assert.equal(status, 413);
});

test('claim: msgpack in, msgpack out; bad msgpack is 400', async () => {
  const mp = { 'content-type': 'application/msgpack' };
  const ok = await claim(pack({ userId: 'mp-user', templateId, requestId: 'mp1' }), mp);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['content-type'], 'application/msgpack');
  const body = unpack(ok.raw);
  assert.equal(body.status, 'issued');
  assert.equal(body.userId, 'mp-user');
  const bad = await claim(Buffer.from([0xc1, 0xff, 0x00]), mp);
  assert.equal(bad.status, 400);
  assert.equal(unpack(bad.raw).error, 'bad_request');
  const truncated = await claim(pack({ userId: 'mp-user', templateId }).subarray(0, 10), mp);
  assert.equal(truncated.status, 400);
  const wrongShape = await claim(pack([1, 2, 3]), mp);
  assert.equal(unpack(wrongShape.raw).error, 'bad_request');
});

test('claim: unknown template is 404, decided refusals carry their status', async () => {
  expectError(await claim({ userId: 'a', templateId: 'no-such-template' }), 404, 'template_not_found');
  const future = await createTemplate(gw.url, { name: 'later', type: 'direct', value: 1, totalStock: 5, claimStart: new Date(Date.now() + 3_600_000).toISOString() });
  const r1 = await claim({ userId: 'a', templateId: future.id });
  assert.deepEqual([r1.status, r1.json], [403, { status: 'not_started' }]);
  const past = await createTemplate(gw.url, { name: 'over', type: 'direct', value: 1, totalStock: 5, claimEnd: new Date(Date.now() - 1000).toISOString() });
  const r2 = await claim({ userId: 'a', templateId: past.id });
  assert.deepEqual([r2.status, r2.json], [403, { status: 'ended' }]);
  await claim({ userId: 'lim', templateId });
  const r3 = await claim({ userId: 'lim', templateId });
  assert.deepEqual([r3.status, r3.json], [409, { status: 'limit_reached' }]);
});

test('claim batch over HTTP: results in order, bad bodies 400, other methods 405', async () => {
  const url = `${gw.url}/v1/claim/batch`;
  const ok = await http('POST', url, { userId: 'batch-u', templateIds: [templateId, 'no-such-template'], requestId: 'b1' });
  assert.equal(ok.status, 200, ok.raw.toString());
  assert.deepEqual(ok.json.results.map((r: { status: string }) => r.status), ['issued', 'template_not_found']);
  expectError(await http('POST', url, { userId: 'batch-u', templateIds: [templateId, templateId] }), 400, 'bad_request');
  expectError(await http('POST', url, '{"userId":'), 400, 'bad_request');
  expectError(await http('GET', url), 405, 'method_not_allowed');
});

test('redeem: bad bodies are 400 naming the field, oversize 413, wrong type 415, not a code 404; other methods 405', async () => {
  const url = `${gw.url}/v1/redeem`;
  for (const body of ['{', 'null', '[]', '42']) expectError(await http('POST', url, body), 400, 'bad_request');
  for (const [body, field] of [
    [{ userId: 'a' }, /^code: required/], [{ userId: 'a', code: 7 }, /^code: required/], [{ userId: 'a', code: ['X'] }, /^code: required/],
    [{ userId: 'a', code: '' }, /^code: required/], [{ userId: 'a', code: 'A'.repeat(65) }, /^code: .*at most 64/],
    [{ code: 'AAAA' }, /^userId: required/], [{ userId: 'a b', code: 'AAAA' }, /^userId: /],
    [{ userId: 'a', code: 'AAAA', requestId: 'x/y' }, /^requestId: /], [{ userId: 'a', code: 'AAAA', coupon: 1 }, /^coupon: unknown field/],
  ] as const) {
    const r = await http('POST', url, body);
    expectError(r, 400, 'bad_request');
    assert.match(r.json.message, field, JSON.stringify(body));
  }
  expectError(await http('POST', url, `{"userId":"a","code":"${'A'.repeat(10_000)}"}`), 413, 'payload_too_large');
  expectError(await http('POST', url, 'a AAAA', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  expectError(await http('POST', url, { userId: 'a', code: 'AAAA-AAAA-AAAA-AAAA-AAAA' }), 404, 'invalid_code');
  const mp = await http('POST', url, pack({ userId: 'a', code: 'nope' }), { 'content-type': 'application/msgpack' });
  assert.deepEqual([mp.status, unpack(mp.raw)], [404, { error: 'invalid_code' }]);
  expectError(await http('GET', url), 405, 'method_not_allowed');
  expectError(await http('GET', `${gw.url}/v1/admin/templates/${templateId}/codes`, undefined, ADMIN), 405, 'method_not_allowed');
  expectError(await http('POST', `${gw.url}/v1/admin/code-batches/b1/codes`, '{}', ADMIN), 405, 'method_not_allowed');
  expectError(await http('GET', `${gw.url}/v1/admin/code-batches/a%20b/codes`, undefined, ADMIN), 400, 'bad_request');
});

test('admin: missing, wrong or malformed token is 401', async () => {
  const body = { name: 'x', type: 'direct', value: 1, totalStock: 1 };
  expectError(await http('POST', `${gw.url}/v1/admin/templates`, body), 401, 'unauthorized');
  expectError(await http('POST', `${gw.url}/v1/admin/templates`, body, { authorization: 'Bearer wrong-token-123' }), 401, 'unauthorized');
  expectError(await http('POST', `${gw.url}/v1/admin/templates`, body, { authorization: 'dev-admin-token' }), 401, 'unauthorized');
  expectError(await http('GET', `${gw.url}/v1/admin/templates/${templateId}`), 401, 'unauthorized');
});

test('admin: every bad template field is a 400 naming the field', async () => {
  const base = { name: 'x', type: 'direct', value: 100, totalStock: 10 };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...base, type: 'free' }, /^type:/],
    [{ ...base, value: 0 }, /^value:/],
    [{ ...base, value: 1.5 }, /^value:/],
    [{ ...base, totalStock: -1 }, /^totalStock:/],
    [{ name: 'x', type: 'direct', value: 1 }, /^totalStock:/],
    [{ ...base, name: '' }, /^name:/],
    [{ ...base, threshold: 500 }, /^threshold:/],
    [{ ...base, type: 'threshold' }, /^threshold:/],
    [{ ...base, type: 'threshold', threshold: 50 }, /^value:/],
    [{ ...base, type: 'discount', value: 150 }, /^value:/],
    [{ ...base, maxDiscount: 10 }, /^maxDiscount:/],
    [{ ...base, perUserLimit: 0 }, /^perUserLimit:/],
    [{ ...base, claimStart: 'tomorrow' }, /^claimStart:/],
    [{ ...base, claimStart: '0000-01-01T00:00:00Z' }, /^claimStart:/],
    [{ ...base, claimStart: '2030-02-30T00:00:00Z' }, /^claimStart: 2030-02-30 is not a day of the calendar/],
    [{ ...base, claimEnd: '2030-04-31T10:00:00+08:00' }, /^claimEnd: 2030-04-31 is not a day of the calendar/],
    [{ ...base, claimEnd: '2030-13-01T00:00:00Z' }, /^claimEnd:/],
    [{ ...base, claimEnd: '2030-01-01T00:00:00Z', validFrom: '2029-02-29T00:00:00Z', validTo: '2030-03-01T00:00:00Z' }, /^validFrom: 2029-02-29 is not/],
    [{ ...base, claimEnd: '2030-01-01T00:00:00Z', validFrom: '2029-01-01T00:00:00Z', validTo: '2030-06-31T00:00:00.5Z' }, /^validTo: 2030-06-31 is not/],
    [{ ...base, name: 'tab\there' }, /^name:/],
    [{ ...base, claimStart: '2030-01-02T00:00:00Z', claimEnd: '2030-01-01T00:00:00Z' }, /^claimEnd:/],
    [{ ...base, subStocks: 11 }, /^subStocks:/],
    [{ ...base, id: 'bad id' }, /^id:/],
    [{ ...base, colour: 'red' }, /^colour: unknown field/],
  ];
  for (const [body, field] of cases) {
    const r = await http('POST', `${gw.url}/v1/admin/templates`, body, ADMIN);
    expectError(r, 400, 'bad_request');
    assert.match(r.json.message, field, JSON.stringify(body));
  }
  const dup = await http('POST', `${gw.url}/v1/admin/templates`, { ...base, id: templateId }, ADMIN);
  expectError(dup, 409, 'template_exists');
  expectError(await http('GET', `${gw.url}/v1/admin/templates/nope`, undefined, ADMIN), 404, 'template_not_found');
  expectError(await http('GET', `${gw.url}/v1/admin/templates/${'%ff'}`, undefined, ADMIN), 400, 'bad_request');
});

test('a template name in any script is stored as given', async () => {
  const t = await createTemplate(gw.url, { name: '满100减10', type: 'threshold', value: 1000, threshold: 10000, totalStock: 5 });
  assert.equal(t.name, '满100减10');
  assert.equal((await claim({ userId: 'zh-user', templateId: t.id })).status, 200);
  const view = await http('GET', `${gw.url}/v1/admin/templates/${t.id}`, undefined, ADMIN);
  assert.equal(view.json.name, '满100减10');
});

test('ambiguous body lengths are refused and the connection closed', async () => {
  const port = Number(new URL(gw.url).port);
  // Duplicate lengths get our 400; uWS's own parser drops length + chunked without an answer.
  const cases: [string, RegExp][] = [
    ['Content-Length: 5\r\nContent-Length: 40', /^HTTP\/1\.1 400 .*ambiguous body length/s],
    ['Content-Length: 5\r\nTransfer-Encoding: chunked', /^$/],
  ];
  for (const [head, expected] of cases) {
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    let answer = '';
    sock.on('data', (b) => { answer += b.toString(); });
    sock.write(`POST /v1/claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${head}\r\n\r\n{"a":1}`);
    await once(sock, 'close');
    assert.match(answer, expected, head);
  }
});

test('listing and routing: bad ids and parameters are 400, unknown routes 404, wrong methods 405', async () => {
  expectError(await http('GET', `${gw.url}/v1/users/${'x'.repeat(70)}/coupons`), 400, 'bad_request');
  expectError(await http('GET', `${gw.url}/v1/users/a%20b/coupons`), 400, 'bad_request');
  expectError(await http('GET', `${gw.url}/v1/users/a/coupons?limit=0`), 400, 'bad_request');
  expectError(await http('GET', `${gw.url}/v1/users/a/coupons?limit=abc`), 400, 'bad_request');
  expectError(await http('GET', `${gw.url}/v1/users/a/coupons?sort=asc`), 400, 'bad_request');
  expectError(await http('GET', `${gw.url}/v1/nothing`), 404, 'not_found');
  expectError(await http('GET', `${gw.url}/v1/claim`), 405, 'method_not_allowed');
  expectError(await http('DELETE', `${gw.url}/v1/admin/templates`), 405, 'method_not_allowed');
});

test('a body that is not an object gets the same 400 on every route, naming the fields it should hold', async () => {
  const claimShape = /^body: must be a JSON object or msgpack map with the fields userId, templateId, requestId$/;
  for (const body of ['null', '[]', '[{"userId":"a"}]', '"x"', '42', 'true']) {
    const r = await claim(body);
    expectError(r, 400, 'bad_request');
    assert.match(r.json.message, claimShape, body);
  }
  // msgpack: 0xC1 ("never used") decodes to a marker object, bin to a Buffer, extensions to a
  // Date or a Set: none of them is a map, whatever keys it happens to have.
  const mp = { 'content-type': 'application/msgpack' };
  const more = new Packr({ moreTypes: true });
  for (const body of [Buffer.from([0xc1]), Buffer.from([0xc0]), pack(7), pack('x'), pack([1, 2]), pack(Buffer.from('ab')),
    pack(new Date()), more.pack(new Set(['userId'])), more.pack(new Error('userId'))]) {
    const r = await claim(body, mp);
    assert.equal(r.status, 400, body.toString('hex'));
    const answer = unpack(r.raw);
    assert.equal(answer.error, 'bad_request');
    assert.match(answer.message, claimShape, body.toString('hex'));
  }
  const admin: [string, string, RegExp][] = [
    ['POST', '/v1/admin/templates', /^body: must be a JSON object with the fields id, name, type, value, /],
    ['PATCH', `/v1/admin/templates/${templateId}`, /^body: must be a JSON object with the fields name, claimStart, /],
    ['POST', `/v1/admin/templates/${templateId}/stock`, /^body: must be a JSON object with the fields add, requestId$/],
    ['PUT', '/v1/admin/blacklist', /^body: must be a JSON object with the fields categories, products$/],
    ['POST', `/v1/admin/templates/${templateId}/codes`, /^body: must be a JSON object with the fields count, batchId$/],
  ];
  for (const [method, path, shape] of admin) {
    for (const body of ['null', '[]', '"x"', '42']) {
      const r = await http(method, `${gw.url}${path}`, body, ADMIN);
      expectError(r, 400, 'bad_request');
      assert.match(r.json.message, shape, `${method} ${path} ${body}`);
    }
  }
});

test('a charset other than UTF-8 is 415 on every route with a body; UTF-8 spelled any usual way is accepted', async () => {
  for (const ct of ['application/json; charset=iso-8859-1', 'application/json; charset=utf-16', 'application/json;charset="latin1"',
    'application/msgpack; charset=utf-16le']) {
    // Answered in JSON, like any 415: the format is not settled.
    const r = await claim('{}', { 'content-type': ct });
    expectError(r, 415, 'unsupported_media_type');
    assert.match(r.json.message, /only UTF-8/, ct);
  }
  const body = { name: 'x', type: 'direct', value: 1, totalStock: 1 };
  const admin = await http('POST', `${gw.url}/v1/admin/templates`, body, { ...ADMIN, 'content-type': 'application/json; charset=iso-8859-1' });
  expectError(admin, 415, 'unsupported_media_type');
  assert.match(admin.json.message, /only UTF-8/);
  let n = 0;
  for (const ct of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"',
    'Application/JSON; Charset=Utf-8']) {
    const r = await claim({ userId: `charset-${n++}`, templateId }, { 'content-type': ct });
    assert.equal(r.status, 200, `${ct}: ${r.raw}`);
  }
});

test('a lone surrogate in a template name is a 400 naming the field; a real pair is stored as given', async () => {
  const base = '"type":"direct","value":1,"totalStock":1';
  for (const name of ['\\ud800', 'a\\udc00b', '\\udc00\\ud83d']) {
    const r = await http('POST', `${gw.url}/v1/admin/templates`, `{"name":"${name}",${base}}`, ADMIN);
    expectError(r, 400, 'bad_request');
    assert.match(r.json.message, /^name: /, name);
    const p = await http('PATCH', `${gw.url}/v1/admin/templates/${templateId}`, `{"name":"${name}"}`, ADMIN);
    expectError(p, 400, 'bad_request');
    assert.match(p.json.message, /^name: /, name);
  }
  const t = await createTemplate(gw.url, { name: 'rain \ud83c\udf27', type: 'direct', value: 1, totalStock: 1 });
  const view = await http('GET', `${gw.url}/v1/admin/templates/${t.id}`, undefined, ADMIN);
  assert.equal(view.json.name, 'rain \u{1f327}');
  // Ids are ASCII only: invalid UTF-8 in a msgpack id (a surrogate's bytes) is refused as an id.
  const r = await claim(Buffer.concat([Buffer.from([0x82]), pack('userId'), Buffer.from([0xa3, 0xed, 0xa0, 0x80]),
    pack('templateId'), pack(templateId)]), { 'content-type': 'application/msgpack' });
  assert.equal(r.status, 400);
  assert.match(unpack(r.raw).message, /^userId: /);
});

test('a JSON body that is not valid UTF-8 is a 400, not stored with U+FFFD in place of its bytes', async () => {
  const latin1 = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9]), Buffer.from('","type":"direct","value":1,"totalStock":1}')]);
  const r = await http('POST', `${gw.url}/v1/admin/templates`, latin1, ADMIN);
  expectError(r, 400, 'bad_request');
  assert.match(r.json.message, /not valid UTF-8/);
  const surrogateBytes = Buffer.from(`{"userId":"a\xed\xa0\x80","templateId":"${templateId}"}`, 'latin1');
  const c = await claim(surrogateBytes);
  expectError(c, 400, 'bad_request');
  assert.match(c.json.message, /not valid UTF-8/);
});

test('after all of that the process is up and ready', async () => {
  assert.equal(gw.child.exitCode, null);
  assert.equal((await http('GET', `${gw.url}/healthz`)).status, 200);
  const ready = await http('GET', `${gw.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(ready.json.status, 'ready');
});
