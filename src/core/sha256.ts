import { ErrorCode, RolldeltaError } from './errors.js';
import type { Hasher, HasherFactory } from './hash.js';

// SHA-256 (FIPS 180-4) in plain TypeScript, so core code runs on any JS runtime. Under Node the
// stream layer injects node:crypto's (much faster) SHA-256 through a HasherFactory instead.

const BLOCK = 64;

/** Round constants K (first 32 bits of the fractional parts of the cube roots of the first 64 primes). */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** Message schedule; module scratch, so compression never allocates. */
const W = new Int32Array(64);

/** One compression of data[o, o+64) into s (big-endian words read by shifts). */
function compress(s: Int32Array, data: Uint8Array, o: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, o += 4) {
    w[i] = (data[o] << 24) | (data[o + 1] << 16) | (data[o + 2] << 8) | data[o + 3];
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15], y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (s1 + w[i - 7] + s0 + w[i - 16]) | 0;
  }
  let a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  let t = 0;
  // Eight rounds per pass with the register names rotated, instead of shifting eight values each round.
  for (let i = 0; i < 64; i += 8) {
    t = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + (g ^ (e & (f ^ g))) + K[i + 0] + w[i + 0]) | 0;
    d = (d + t) | 0;
    h = (t + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) | (c & (a | b)))) | 0;
    t = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + (f ^ (d & (e ^ f))) + K[i + 1] + w[i + 1]) | 0;
    c = (c + t) | 0;
    g = (t + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) | (b & (h | a)))) | 0;
    t = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + (e ^ (c & (d ^ e))) + K[i + 2] + w[i + 2]) | 0;
    b = (b + t) | 0;
    f = (t + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) | (a & (g | h)))) | 0;
    t = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + (d ^ (b & (c ^ d))) + K[i + 3] + w[i + 3]) | 0;
    a = (a + t) | 0;
    e = (t + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) | (h & (f | g)))) | 0;
    t = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + (c ^ (a & (b ^ c))) + K[i + 4] + w[i + 4]) | 0;
    h = (h + t) | 0;
    d = (t + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) | (g & (e | f)))) | 0;
    t = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + (b ^ (h & (a ^ b))) + K[i + 5] + w[i + 5]) | 0;
    g = (g + t) | 0;
    c = (t + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) | (f & (d | e)))) | 0;
    t = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + (a ^ (g & (h ^ a))) + K[i + 6] + w[i + 6]) | 0;
    f = (f + t) | 0;
    b = (t + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) | (e & (c | d)))) | 0;
    t = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + (h ^ (f & (g ^ h))) + K[i + 7] + w[i + 7]) | 0;
    e = (e + t) | 0;
    a = (t + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) | (d & (b | c)))) | 0;
  }
  s[0] = (s[0] + a) | 0;
  s[1] = (s[1] + b) | 0;
  s[2] = (s[2] + c) | 0;
  s[3] = (s[3] + d) | 0;
  s[4] = (s[4] + e) | 0;
  s[5] = (s[5] + f) | 0;
  s[6] = (s[6] + g) | 0;
  s[7] = (s[7] + h) | 0;
}

/**
 * Incremental SHA-256 (32-byte digest); reusable through reset().
 * @example
 * const d = new Sha256().update(a).update(b).digest(); // 32 bytes
 */
export class Sha256 implements Hasher {
  readonly outLength = 32;
  private readonly s = new Int32Array(8);
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
    this.s.set(IV);
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
   * Absorbs data[start, end) without making a subarray.
   * @example
   * new Sha256().updateRange(file, 0, 4096).digest();
   */
  updateRange(data: Uint8Array, start: number, end: number): this {
    if (this.finished) throw finishedError();
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

  /** Finishes and returns a new 32-byte array. */
  digest(): Uint8Array {
    const out = new Uint8Array(32);
    this.digestInto(out, 0);
    return out;
  }

  /**
   * Finishes and writes 32 bytes at out[offset]; call reset() before reusing.
   * @example
   * const h = new Sha256(); h.update(data).digestInto(header, 8);
   */
  digestInto(out: Uint8Array, offset: number): void {
    if (this.finished) throw finishedError();
    if (!(offset >= 0 && offset + 32 <= out.length)) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `digestInto needs 32 bytes at offset ${offset}, but the output holds ${out.length}; pass a larger array`);
    }
    this.finished = true;
    const { s, buf } = this;
    let pos = this.pos;
    // Padding: 0x80, zeros, then the bit length as a big-endian u64.
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
      buf[BLOCK - 8 + k] = hi >>> (24 - 8 * k);
      buf[BLOCK - 4 + k] = lo >>> (24 - 8 * k);
    }
    compress(s, buf, 0);
    for (let i = 0; i < 32; i++) out[offset + i] = s[i >> 2] >>> (24 - ((i & 3) << 3));
  }
}

function finishedError(): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'this SHA-256 hash was already finished by digest(); call reset() before hashing again');
}

/**
 * SHA-256 of `data` (32 bytes).
 * @example
 * toHex(sha256(new TextEncoder().encode('abc'))); // 'ba7816bf…'
 */
export function sha256(data: Uint8Array): Uint8Array {
  return new Sha256().update(data).digest();
}

/**
 * Makes fresh pure-TypeScript SHA-256 hashers; the default wherever no faster one is injected.
 * @example
 * const h = (opts.sha256 ?? sha256Factory)(); h.update(data).digest();
 */
export const sha256Factory: HasherFactory = () => new Sha256();
