/**
 * What a redemption code says, and why it cannot be guessed. Its 100 bits (code-format.ts) are
 * a code number of 40 bits (batch number x 2^20 + serial within the batch) and a MAC of 60 bits:
 * the first 60 bits of HMAC-SHA256(CODE_SECRET, number). A string made up at random passes with
 * probability 2^-60 at most, and is refused by this check alone, before any Redis or MySQL call.
 *
 * The number is masked with 40 more bits derived from the MAC (HMAC(secret, mac)), so the codes
 * of one batch look unrelated instead of counting up: a code shows neither its batch nor its
 * place in it. Reading one back: the MAC gives the mask, the mask gives the number, and the
 * number must give the MAC again.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { type CodeBits, formatCode, parseCode, SHOWN_LENGTH } from './code-format.ts';

/** Serials per batch: a batch holds at most 2^20 codes (the API allows 1,000,000). */
export const SERIALS = 2 ** 20;
/** Highest batch number: 20 bits. */
export const BATCH_NO_MAX = SERIALS - 1;
/** Most codes one batch may hold. */
export const BATCH_COUNT_MAX = 1_000_000;

const TWO_32 = 2 ** 32;
const TWO_40 = 2 ** 40;
const MAC_TAG = 0x01;
const MASK_TAG = 0x02;

/** The code number of serial `serial` of batch `batchNo`. */
export const codeNumber = (batchNo: number, serial: number): number => batchNo * SERIALS + serial;
/** The batch number of a code number. */
export const batchOf = (n: number): number => Math.floor(n / SERIALS);
/** The serial of a code number within its batch. */
export const serialOf = (n: number): number => n % SERIALS;

/** Mints and checks codes under one secret. */
export class CodeSigner {
  private readonly key: KeyObject;
  // Reused input buffers: tag + 5 bytes of number, tag + 8 bytes of MAC.
  private readonly numberIn = Buffer.alloc(6);
  private readonly macIn = Buffer.alloc(9);

  constructor(secret: string) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
    this.numberIn[0] = MAC_TAG;
    this.macIn[0] = MASK_TAG;
  }

  /** The code of number `n` (0 <= n < 2^40), as shown: 'XXXX-XXXX-XXXX-XXXX-XXXX'. */
  code(n: number): string {
    return formatCode(this.bits(n));
  }

  /** The code number of a typed code, or undefined when it is not one this secret made. */
  verify(text: string): number | undefined {
    const b = parseCode(text);
    if (b === undefined) return undefined;
    const macLow = Math.floor(b.lo / TWO_40);
    this.loadMac(b.hi, macLow);
    const n = this.unmask(b.lo % TWO_40);
    const want = this.mac(n);
    // Numbers, not strings: the comparison's time does not depend on where they differ.
    return want.hi === b.hi && want.low === macLow ? n : undefined;
  }

  /** Lines 'CODE\n' of serials [from, to) of batch `batchNo`, as one buffer (the batch download). */
  lines(batchNo: number, from: number, to: number): Buffer {
    const line = SHOWN_LENGTH + 1;
    const out = Buffer.allocUnsafe((to - from) * line);
    for (let s = from; s < to; s++) {
      const at = (s - from) * line;
      out.write(this.code(codeNumber(batchNo, s)), at, 'latin1');
      out[at + SHOWN_LENGTH] = 0x0a;
    }
    return out;
  }

  private bits(n: number): CodeBits {
    const { hi, low } = this.mac(n);
    this.loadMac(hi, low);
    return { hi, lo: low * TWO_40 + this.unmask(n) };
  }

  /** Puts a 60-bit MAC (top 50 bits, low 10 bits) into macIn, for unmask. */
  private loadMac(hi: number, low: number): void {
    const mac = this.macIn;
    mac.writeUIntBE(Math.floor(hi / 4), 1, 6);
    mac[7] = ((hi % 4) << 6) | (low >> 4);
    mac[8] = (low & 0xf) << 4;
  }

  /** The 60-bit MAC of number n: its top 50 bits and its low 10 bits. */
  private mac(n: number): { hi: number; low: number } {
    this.numberIn.writeUIntBE(n, 1, 5);
    const d = createHmac('sha256', this.key).update(this.numberIn).digest();
    return { hi: d.readUIntBE(0, 6) * 4 + (d[6]! >> 6), low: ((d[6]! & 0x3f) << 4) | (d[7]! >> 4) };
  }

  /** x XOR the 40-bit mask derived from the MAC in macIn (its own inverse). */
  private unmask(x: number): number {
    const m = createHmac('sha256', this.key).update(this.macIn).digest();
    const xHi = Math.floor(x / TWO_32);
    const xLo = x % TWO_32;
    return ((xHi ^ m[0]!) & 0xff) * TWO_32 + ((xLo ^ m.readUInt32BE(1)) >>> 0);
  }
}
