/** The body codec: which Content-Types it takes, and its guard against deeply nested JSON (admin bodies are up to 1 MB). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBody, formatOf, nestsDeeper } from '../../gateway/http/codec.ts';
import { ApiError } from '../../core/errors.ts';

test('nesting depth counts arrays and objects outside strings, escapes included', () => {
  assert.equal(nestsDeeper(Buffer.from('['.repeat(32) + ']'.repeat(32)), 32), false);
  assert.equal(nestsDeeper(Buffer.from('['.repeat(33) + ']'.repeat(33)), 32), true);
  assert.equal(nestsDeeper(Buffer.from(`{"a":${'{"b":'.repeat(40)}1${'}'.repeat(40)}}`), 32), true);
  assert.equal(nestsDeeper(Buffer.from(JSON.stringify({ a: `${'['.repeat(40)}"\\${'{'.repeat(40)}` })), 32), false);
  assert.equal(nestsDeeper(Buffer.from(`[${'[],'.repeat(1000)}[]]`), 32), false, 'wide is fine');
});

test('a large body nesting too deep is a 400 before it is parsed; a small one is parsed as usual', () => {
  const deep = Buffer.from(`{"audience":${'['.repeat(300_000)}${']'.repeat(300_000)}}`);
  assert.throws(() => decodeBody(deep, 'json'), (e) => e instanceof ApiError && e.code === 'bad_request' && /nests deeper/.test(e.message));
  const small = Buffer.from('['.repeat(1000) + ']'.repeat(1000));
  assert.equal((decodeBody(small, 'json') as unknown[]).length, 1);
});

test('only UTF-8 bodies are accepted: any other declared charset is 415, UTF-8 however spelled is fine', () => {
  for (const ct of ['application/json; charset=iso-8859-1', 'application/json; charset=utf-16', 'application/json;charset="UTF-16LE"',
    'application/json; charset=us-ascii', 'application/json; charset=', 'application/json; foo=1; charset=latin1',
    'application/msgpack; charset=latin1']) {
    assert.throws(() => formatOf(ct, true), (e) => e instanceof ApiError && e.code === 'unsupported_media_type' && /only UTF-8/.test(e.message), ct);
  }
  for (const ct of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8',
    'application/json; charset="utf-8"', 'APPLICATION/JSON ; CHARSET = utf-8', 'application/json; charset=utf8',
    'application/json; foo=bar', 'application/json; charset=utf-8; foo=bar']) {
    assert.equal(formatOf(ct, true), 'json', ct);
  }
  assert.equal(formatOf('application/msgpack; charset=utf-8', true), 'msgpack');
  // The type is checked first: a wrong type is named as such, whatever its charset.
  assert.throws(() => formatOf('text/plain; charset=latin1', true), /Content-Type must be application\/json/);
});
