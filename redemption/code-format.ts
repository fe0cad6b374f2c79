/**
 * How a redemption code is written: 20 characters of Crockford's base32 (digits and capitals
 * without I, L, O, U, which are misread or spell words), shown as 5 groups of 4 joined by '-'.
 * 20 characters carry 100 bits, held here as two 50-bit halves (plain numbers: below 2^53).
 *
 * Input is forgiving, as people type codes: case does not matter, hyphens and spaces are
 * ignored, O reads as 0 and I or L as 1. A code is a format, not an id: the ids rule of the API
 * (case-sensitive bytes) does not apply to it; its number (code-mac.ts) is what is stored.
 */

/** Crockford's alphabet: the value of a character is its index. */
export const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Characters of a code, groups and group length as shown. */
export const CODE_CHARS = 20;
const GROUP = 4;
/** Length of a code as shown: 20 characters and 4 hyphens. */
export const SHOWN_LENGTH = CODE_CHARS + CODE_CHARS / GROUP - 1;
const HALF_CHARS = CODE_CHARS / 2;

// Character code -> value, -1 for characters that are never part of a code.
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) {
  VALUE[ALPHABET.charCodeAt(i)] = i;
  VALUE[ALPHABET.toLowerCase().charCodeAt(i)] = i;
}
for (const [alias, digit] of [['O', 0], ['o', 0], ['I', 1], ['i', 1], ['L', 1], ['l', 1]] as const) VALUE[alias.charCodeAt(0)] = digit;
const HYPHEN = 0x2d;
const SPACE = 0x20;

/** The 100 bits of a code as two 50-bit halves, high first. */
export interface CodeBits {
  readonly hi: number;
  readonly lo: number;
}

/** Shows 100 bits as a code: 'XXXX-XXXX-XXXX-XXXX-XXXX'. */
export function formatCode(bits: CodeBits): string {
  const chars: string[] = new Array<string>(CODE_CHARS);
  let hi = bits.hi;
  let lo = bits.lo;
  for (let i = HALF_CHARS - 1; i >= 0; i--) {
    chars[i] = ALPHABET[hi % 32]!;
    chars[i + HALF_CHARS] = ALPHABET[lo % 32]!;
    hi = Math.floor(hi / 32);
    lo = Math.floor(lo / 32);
  }
  let out = '';
  for (let g = 0; g < CODE_CHARS; g += GROUP) out += (g === 0 ? '' : '-') + chars.slice(g, g + GROUP).join('');
  return out;
}

/**
 * Reads a code as typed: its 100 bits, or undefined when it is not 20 characters of the
 * alphabet once hyphens and spaces are dropped (aliases and case folded).
 */
export function parseCode(text: string): CodeBits | undefined {
  // Generous enough for any spacing people type, small enough that junk costs nothing.
  if (text.length > 2 * SHOWN_LENGTH) return undefined;
  let hi = 0;
  let lo = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === HYPHEN || c === SPACE) continue;
    const v = c < 128 ? VALUE[c]! : -1;
    if (v < 0 || n >= CODE_CHARS) return undefined;
    if (n < HALF_CHARS) hi = hi * 32 + v;
    else lo = lo * 32 + v;
    n++;
  }
  return n === CODE_CHARS ? { hi, lo } : undefined;
}
