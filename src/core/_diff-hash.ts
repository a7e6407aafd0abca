/**
 * The seed hash shared by the diff index and the diff matcher: the `seedLength / 4` big-endian
 * 32-bit words at a position, folded in one at a time by a multiply and an xor-shift. Each word is
 * one DataView read, so hashing a position from scratch costs about what sliding a byte-wise rolling
 * hash does, and indexing is 10x faster than a byte polynomial (measured: 20 ms vs 210 ms for 4M
 * seeds of 32 bytes). The xor-shift matters: a plain sum of words times constants is linear, and
 * structured data (16-byte records of a counter, small numbers and zeros) fell on a lattice of a
 * few buckets that filled up and pushed out 90% of the seeds around them (a 64 MiB pair lost 1 MiB
 * of copies to literals).
 */

/** Mixes the hash's bits into the bucket number (golden-ratio multiply, top bits count most). */
export const BUCKET_MIX = 0x9e3779b1 | 0;
/** Second mix for the check bits stored beside each position, independent of the bucket bits. */
const CHECK_MIX = 0x85ebca6b | 0;

/** One odd multiplier per word of a seed of `seedLength` bytes (a multiple of 4). */
export function seedMultipliers(seedLength: number): Int32Array {
  const mul = new Int32Array(seedLength >>> 2);
  let x = 0x27d4eb2f;
  for (let j = 0; j < mul.length; j++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6a09e667) | 0;
    mul[j] = x | 1;
  }
  return mul;
}

/** Hash of the seed at `p` (the caller keeps `p + 4 * mul.length` within the view). */
export function seedHash(view: DataView, p: number, mul: Int32Array): number {
  // The default seed (16 bytes) written out: the loop checked the view and multipliers again on
  // each pass, and indexing 16M seeds took 150 ms instead of 70. Same hash.
  if (mul.length === 4) {
    let w = Math.imul(view.getInt32(p), mul[0]);
    w ^= w >>> 15;
    w = Math.imul(w ^ view.getInt32(p + 4), mul[1]);
    w ^= w >>> 15;
    w = Math.imul(w ^ view.getInt32(p + 8), mul[2]);
    w ^= w >>> 15;
    w = Math.imul(w ^ view.getInt32(p + 12), mul[3]);
    return w ^ (w >>> 15);
  }
  let h = 0;
  for (let j = 0; j < mul.length; j++) {
    h = Math.imul(h ^ view.getInt32(p + 4 * j), mul[j]);
    h ^= h >>> 15;
  }
  return h;
}

/**
 * Bucket of seed hash `h` in a table of `buckets` buckets (any count up to 2^29, so the table can be
 * sized to the basis instead of the next power of two): the mixed hash, read as a fraction of 2^32,
 * times `buckets`. One double multiply: its rounding can move a product lying within a few units of
 * a multiple of 2^32 to the neighbouring bucket, the same way on every thread, and never to
 * `buckets` (the largest product, (2^32 - 1) * buckets, is `buckets` below that bound, far more than
 * a rounding step). Two exact half-products filled the index 10% slower.
 */
export function seedBucket(h: number, buckets: number): number {
  return ((Math.imul(h, BUCKET_MIX) >>> 0) * buckets * 2 ** -32) | 0;
}

/** Check bits of a seed hash (the top `bits` of a second mix; 0 when bits is 0). */
export function seedCheck(h: number, bits: number): number {
  return bits === 0 ? 0 : Math.imul(h ^ (h >>> 15), CHECK_MIX) >>> (32 - bits);
}

/**
 * Loads `table[at[0..count)]` and folds them into one value, so the caller's next pass over those
 * entries finds them in cache: independent loads the CPU overlaps. Eight a pass: the one-load loop
 * kept fewer misses in flight (16M random buckets of a 128 MiB table touched and filled 880 ms
 * one a pass, 630 eight a pass, 660 sixteen, measured).
 */
export function touchBuckets(table: Int32Array, at: Int32Array, count: number): number {
  let x = 0;
  let j = 0;
  for (; j + 8 <= count; j += 8) {
    x ^= table[at[j]] ^ table[at[j + 1]] ^ table[at[j + 2]] ^ table[at[j + 3]] ^ table[at[j + 4]] ^ table[at[j + 5]] ^ table[at[j + 6]] ^ table[at[j + 7]];
  }
  for (; j < count; j++) x ^= table[at[j]];
  return x;
}
