/** The body codec's guard against deeply nested JSON (admin bodies are up to 1 MB). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBody, nestsDeeper } from '../gateway/http/codec.ts';
import { ApiError } from '../gateway/http/errors.ts';

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
