import { ErrorCode, RolldeltaError } from './errors.js';
import type { Hasher } from './hash.js';

// MD4 (RFC 1320). Broken as a cryptographic hash; librsync still uses it for old signatures
// (magics 0x72730136 and 0x72730146), so rolldelta needs it bit-exact and fast.

const BLOCK = 64;

/** One compression of data[o, o+64) into s; message words are read little-endian into locals. */
function compress(s: Int32Array, data: Uint8Array, o: number): void {
  const x0 = data[o] | (data[o + 1] << 8) | (data[o + 2] << 16) | (data[o + 3] << 24);
  const x1 = data[o + 4] | (data[o + 5] << 8) | (data[o + 6] << 16) | (data[o + 7] << 24);
  const x2 = data[o + 8] | (data[o + 9] << 8) | (data[o + 10] << 16) | (data[o + 11] << 24);
  const x3 = data[o + 12] | (data[o + 13] << 8) | (data[o + 14] << 16) | (data[o + 15] << 24);
  const x4 = data[o + 16] | (data[o + 17] << 8) | (data[o + 18] << 16) | (data[o + 19] << 24);
  const x5 = data[o + 20] | (data[o + 21] << 8) | (data[o + 22] << 16) | (data[o + 23] << 24);
  const x6 = data[o + 24] | (data[o + 25] << 8) | (data[o + 26] << 16) | (data[o + 27] << 24);
  const x7 = data[o + 28] | (data[o + 29] << 8) | (data[o + 30] << 16) | (data[o + 31] << 24);
  const x8 = data[o + 32] | (data[o + 33] << 8) | (data[o + 34] << 16) | (data[o + 35] << 24);
  const x9 = data[o + 36] | (data[o + 37] << 8) | (data[o + 38] << 16) | (data[o + 39] << 24);
  const x10 = data[o + 40] | (data[o + 41] << 8) | (data[o + 42] << 16) | (data[o + 43] << 24);
  const x11 = data[o + 44] | (data[o + 45] << 8) | (data[o + 46] << 16) | (data[o + 47] << 24);
  const x12 = data[o + 48] | (data[o + 49] << 8) | (data[o + 50] << 16) | (data[o + 51] << 24);
  const x13 = data[o + 52] | (data[o + 53] << 8) | (data[o + 54] << 16) | (data[o + 55] << 24);
  const x14 = data[o + 56] | (data[o + 57] << 8) | (data[o + 58] << 16) | (data[o + 59] << 24);
  const x15 = data[o + 60] | (data[o + 61] << 8) | (data[o + 62] << 16) | (data[o + 63] << 24);
  let a = s[0], b = s[1], c = s[2], d = s[3], t = 0;
  // Round 1: F = (b & c) | (~b & d), written with one fewer operation
  t = (a + (d ^ (b & (c ^ d))) + x0) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (c ^ (a & (b ^ c))) + x1) | 0; d = (t << 7) | (t >>> 25);
  t = (c + (b ^ (d & (a ^ b))) + x2) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (a ^ (c & (d ^ a))) + x3) | 0; b = (t << 19) | (t >>> 13);
  t = (a + (d ^ (b & (c ^ d))) + x4) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (c ^ (a & (b ^ c))) + x5) | 0; d = (t << 7) | (t >>> 25);
  t = (c + (b ^ (d & (a ^ b))) + x6) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (a ^ (c & (d ^ a))) + x7) | 0; b = (t << 19) | (t >>> 13);
  t = (a + (d ^ (b & (c ^ d))) + x8) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (c ^ (a & (b ^ c))) + x9) | 0; d = (t << 7) | (t >>> 25);
  t = (c + (b ^ (d & (a ^ b))) + x10) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (a ^ (c & (d ^ a))) + x11) | 0; b = (t << 19) | (t >>> 13);
  t = (a + (d ^ (b & (c ^ d))) + x12) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (c ^ (a & (b ^ c))) + x13) | 0; d = (t << 7) | (t >>> 25);
  t = (c + (b ^ (d & (a ^ b))) + x14) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (a ^ (c & (d ^ a))) + x15) | 0; b = (t << 19) | (t >>> 13);
  // Round 2: G = majority(b, c, d), K = 0x5a827999
  t = (a + ((b & c) | (d & (b | c))) + x0 + 0x5a827999) | 0; a = (t << 3) | (t >>> 29);
  t = (d + ((a & b) | (c & (a | b))) + x4 + 0x5a827999) | 0; d = (t << 5) | (t >>> 27);
  t = (c + ((d & a) | (b & (d | a))) + x8 + 0x5a827999) | 0; c = (t << 9) | (t >>> 23);
  t = (b + ((c & d) | (a & (c | d))) + x12 + 0x5a827999) | 0; b = (t << 13) | (t >>> 19);
  t = (a + ((b & c) | (d & (b | c))) + x1 + 0x5a827999) | 0; a = (t << 3) | (t >>> 29);
  t = (d + ((a & b) | (c & (a | b))) + x5 + 0x5a827999) | 0; d = (t << 5) | (t >>> 27);
  t = (c + ((d & a) | (b & (d | a))) + x9 + 0x5a827999) | 0; c = (t << 9) | (t >>> 23);
  t = (b + ((c & d) | (a & (c | d))) + x13 + 0x5a827999) | 0; b = (t << 13) | (t >>> 19);
  t = (a + ((b & c) | (d & (b | c))) + x2 + 0x5a827999) | 0; a = (t << 3) | (t >>> 29);
  t = (d + ((a & b) | (c & (a | b))) + x6 + 0x5a827999) | 0; d = (t << 5) | (t >>> 27);
  t = (c + ((d & a) | (b & (d | a))) + x10 + 0x5a827999) | 0; c = (t << 9) | (t >>> 23);
  t = (b + ((c & d) | (a & (c | d))) + x14 + 0x5a827999) | 0; b = (t << 13) | (t >>> 19);
  t = (a + ((b & c) | (d & (b | c))) + x3 + 0x5a827999) | 0; a = (t << 3) | (t >>> 29);
  t = (d + ((a & b) | (c & (a | b))) + x7 + 0x5a827999) | 0; d = (t << 5) | (t >>> 27);
  t = (c + ((d & a) | (b & (d | a))) + x11 + 0x5a827999) | 0; c = (t << 9) | (t >>> 23);
  t = (b + ((c & d) | (a & (c | d))) + x15 + 0x5a827999) | 0; b = (t << 13) | (t >>> 19);
  // Round 3: H = b ^ c ^ d, K = 0x6ed9eba1
  t = (a + (b ^ c ^ d) + x0 + 0x6ed9eba1) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (a ^ b ^ c) + x8 + 0x6ed9eba1) | 0; d = (t << 9) | (t >>> 23);
  t = (c + (d ^ a ^ b) + x4 + 0x6ed9eba1) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (c ^ d ^ a) + x12 + 0x6ed9eba1) | 0; b = (t << 15) | (t >>> 17);
  t = (a + (b ^ c ^ d) + x2 + 0x6ed9eba1) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (a ^ b ^ c) + x10 + 0x6ed9eba1) | 0; d = (t << 9) | (t >>> 23);
  t = (c + (d ^ a ^ b) + x6 + 0x6ed9eba1) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (c ^ d ^ a) + x14 + 0x6ed9eba1) | 0; b = (t << 15) | (t >>> 17);
  t = (a + (b ^ c ^ d) + x1 + 0x6ed9eba1) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (a ^ b ^ c) + x9 + 0x6ed9eba1) | 0; d = (t << 9) | (t >>> 23);
  t = (c + (d ^ a ^ b) + x5 + 0x6ed9eba1) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (c ^ d ^ a) + x13 + 0x6ed9eba1) | 0; b = (t << 15) | (t >>> 17);
  t = (a + (b ^ c ^ d) + x3 + 0x6ed9eba1) | 0; a = (t << 3) | (t >>> 29);
  t = (d + (a ^ b ^ c) + x11 + 0x6ed9eba1) | 0; d = (t << 9) | (t >>> 23);
  t = (c + (d ^ a ^ b) + x7 + 0x6ed9eba1) | 0; c = (t << 11) | (t >>> 21);
  t = (b + (c ^ d ^ a) + x15 + 0x6ed9eba1) | 0; b = (t << 15) | (t >>> 17);
  s[0] = (s[0] + a) | 0;
  s[1] = (s[1] + b) | 0;
  s[2] = (s[2] + c) | 0;
  s[3] = (s[3] + d) | 0;
}

/**
 * Incremental MD4 (16-byte digest); reusable through reset().
 * @example
 * const d = new Md4().update(a).update(b).digest(); // 16 bytes
 */
export class Md4 implements Hasher {
  readonly outLength = 16;
  private readonly s = new Int32Array(4);
  private readonly buf = new Uint8Array(BLOCK);
  private pos = 0;
  /** Total bytes absorbed; a double is exact up to 2^53. */
  private length = 0;
  private finished = false;

  constructor() {
    this.reset();
  }

  /** Restarts the hash without allocating. */
  reset(): this {
    const s = this.s;
    s[0] = 0x67452301;
    s[1] = 0xefcdab89 | 0;
    s[2] = 0x98badcfe | 0;
    s[3] = 0x10325476;
    this.pos = 0;
    this.length = 0;
    this.finished = false;
    return this;
  }

  /** Absorbs all of `data`; any chunking gives the same digest. */
  update(data: Uint8Array): this {
    return this.updateRange(data, 0, data.length);
  }

  /**
   * Absorbs data[start, end) without making a subarray (for allocation-free callers).
   * @example
   * new Md4().updateRange(file, 0, 2048).digest();
   */
  updateRange(data: Uint8Array, start: number, end: number): this {
    if (this.finished) throw finishedError('MD4');
    const { s, buf } = this;
    let pos = this.pos;
    let i = start;
    this.length += end - start;
    if (pos > 0) {
      const take = Math.min(BLOCK - pos, end - i);
      for (let k = 0; k < take; k++) buf[pos + k] = data[i + k];
      pos += take;
      i += take;
      if (pos === BLOCK) {
        compress(s, buf, 0);
        pos = 0;
      }
    }
    // Whole blocks straight from the input.
    for (; end - i >= BLOCK; i += BLOCK) compress(s, data, i);
    for (; i < end; i++) buf[pos++] = data[i];
    this.pos = pos;
    return this;
  }

  /** Finishes and returns a new 16-byte array. */
  digest(): Uint8Array {
    const out = new Uint8Array(16);
    this.digestInto(out, 0);
    return out;
  }

  /**
   * Finishes and writes 16 bytes at out[offset]; call reset() before reusing.
   * @example
   * const h = new Md4(); h.update(block).digestInto(table, 16 * i);
   */
  digestInto(out: Uint8Array, offset: number): void {
    if (this.finished) throw finishedError('MD4');
    if (!(offset >= 0 && offset + 16 <= out.length)) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `digestInto needs 16 bytes at offset ${offset}, but the output holds ${out.length}; pass a larger array`);
    }
    this.finished = true;
    const { s, buf } = this;
    let pos = this.pos;
    // Padding: 0x80, zeros, then the bit length as a little-endian u64.
    buf[pos++] = 0x80;
    if (pos > BLOCK - 8) {
      buf.fill(0, pos);
      compress(s, buf, 0);
      pos = 0;
    }
    buf.fill(0, pos, BLOCK - 8);
    const bits = this.length * 8; // exact: length < 2^53
    const lo = bits >>> 0;
    const hi = (bits / 0x100000000) >>> 0;
    for (let k = 0; k < 4; k++) {
      buf[BLOCK - 8 + k] = lo >>> (8 * k);
      buf[BLOCK - 4 + k] = hi >>> (8 * k);
    }
    compress(s, buf, 0);
    for (let i = 0; i < 16; i++) out[offset + i] = s[i >> 2] >>> ((i & 3) << 3);
  }
}

function finishedError(name: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `this ${name} hash was already finished by digest(); call reset() before hashing again`);
}

/**
 * MD4 of `data` (16 bytes).
 * @example
 * toHex(md4(new TextEncoder().encode('abc'))); // 'a448017aaf21d8525fc10ae87aa6729d'
 */
export function md4(data: Uint8Array): Uint8Array {
  return new Md4().update(data).digest();
}
