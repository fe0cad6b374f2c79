/** Redemption codes (redemption/): the written form, the MAC, and the bounds of batch and serial. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ALPHABET, formatCode, parseCode, SHOWN_LENGTH } from '../../redemption/code-format.ts';
import { BATCH_NO_MAX, batchOf, CodeSigner, codeNumber, SERIALS, serialOf } from '../../redemption/code-mac.ts';

const signer = new CodeSigner('a-code-secret-of-at-least-32-characters');
const SHAPE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/;

test('a code is 20 characters of Crockford base32 in 5 groups of 4, and reads back to its number', () => {
  for (const n of [0, 1, 2, 31, 32, codeNumber(1, 0), codeNumber(7, 999_999), codeNumber(BATCH_NO_MAX, SERIALS - 1)]) {
    const code = signer.code(n);
    assert.match(code, SHAPE, code);
    assert.equal(code.length, SHOWN_LENGTH);
    assert.equal(signer.verify(code), n, code);
  }
  // The written form alone: every 50-bit half survives a round trip.
  for (const bits of [{ hi: 0, lo: 0 }, { hi: 2 ** 50 - 1, lo: 2 ** 50 - 1 }, { hi: 123456789012345, lo: 987654321 }]) {
    assert.deepEqual(parseCode(formatCode(bits)), bits);
  }
});

test('typed input is forgiving: case, hyphens, spaces, O for 0, I and L for 1; anything else is refused', () => {
  const n = codeNumber(3, 41);
  const code = signer.code(n);
  const plain = code.replace(/-/g, '');
  assert.equal(signer.verify(code.toLowerCase()), n);
  assert.equal(signer.verify(plain), n);
  assert.equal(signer.verify(` ${plain.slice(0, 7)} ${plain.slice(7)} `), n);
  assert.equal(signer.verify(code.replace(/0/g, 'O').replace(/1/g, 'l')), n);
  assert.equal(signer.verify(code.replace(/1/g, 'I').replace(/0/g, 'o')), n);
  assert.deepEqual(parseCode('O'.repeat(20)), parseCode('0'.repeat(20)));
  assert.deepEqual(parseCode('IiLl'.repeat(5)), parseCode('1'.repeat(20)));
  for (const bad of ['', plain.slice(1), `${plain}0`, `${plain.slice(1)}U`, `${plain.slice(1)}_`, `${plain.slice(1)}é`,
    plain.replace(/-/g, '').split('').join('\t'), `${code}\n`, ' '.repeat(10_000) + plain]) {
    assert.equal(signer.verify(bad), undefined, JSON.stringify(bad.slice(0, 40)));
  }
});

test('the MAC refuses any tampered character, and another secret', () => {
  const code = signer.code(codeNumber(9, 1234)).replace(/-/g, '');
  for (let i = 0; i < code.length; i++) {
    for (const c of ALPHABET) {
      if (c === code[i]) continue;
      assert.equal(signer.verify(code.slice(0, i) + c + code.slice(i + 1)), undefined, `position ${i} -> ${c}`);
    }
  }
  assert.equal(new CodeSigner('another-secret-of-at-least-32-characters').verify(code), undefined);
});

test('a million random strings of the right shape: none passes', () => {
  let accepted = 0;
  const bytes = randomBytes(20 * 1_000_000);
  for (let i = 0; i < bytes.length; i += 20) {
    let s = '';
    for (let j = i; j < i + 20; j++) s += ALPHABET[bytes[j]! & 31];
    if (signer.verify(s) !== undefined) accepted++;
  }
  assert.equal(accepted, 0);
});

test('codes of one batch look unrelated, and all differ', () => {
  const codes = new Set(Array.from({ length: 5000 }, (_, s) => signer.code(codeNumber(2, s))));
  assert.equal(codes.size, 5000);
  // Masked numbers: consecutive serials do not share their leading characters.
  const firsts = new Set([...codes].map((c) => c.slice(0, 2)));
  assert.ok(firsts.size > 500, `${firsts.size} distinct first pairs`);
});

test('batch and serial: 20 bits each, split back from the number', () => {
  assert.equal(SERIALS, 2 ** 20);
  assert.equal(BATCH_NO_MAX, 2 ** 20 - 1);
  const n = codeNumber(BATCH_NO_MAX, 999_999);
  assert.ok(n < 2 ** 40);
  assert.deepEqual([batchOf(n), serialOf(n)], [BATCH_NO_MAX, 999_999]);
  assert.deepEqual([batchOf(codeNumber(1, 0)), serialOf(codeNumber(1, 0))], [1, 0]);
});

test('a batch download is the codes of its serials, one a line', () => {
  const text = signer.lines(4, 10, 13).toString('latin1');
  assert.equal(text, [10, 11, 12].map((s) => `${signer.code(codeNumber(4, s))}\n`).join(''));
});
