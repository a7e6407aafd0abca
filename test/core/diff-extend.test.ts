import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forwardMatch } from '../../src/core/_diff-extend.js';
import { BUCKET_MIX, seedBucket, seedHash, seedMultipliers, touchBuckets } from '../../src/core/_diff-hash.js';

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** The definition forwardMatch computes many bytes at a time. */
function naiveMatch(a: Uint8Array, ai: number, b: Uint8Array, bi: number, max: number): number {
  let k = 0;
  while (k < max && a[ai + k] === b[bi + k]) k++;
  return k;
}

/** The bucket in exact arithmetic: the mixed hash as a fraction of 2^32, times the bucket count. */
function exactBucket(h: number, buckets: number): number {
  return Number((BigInt(Math.imul(h, BUCKET_MIX) >>> 0) * BigInt(buckets)) >> 32n);
}

/** The inverse of an odd number mod 2^32 (Newton's iteration doubles the correct low bits each step). */
function inverse(odd: number): number {
  let inv = odd;
  for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(odd, inv));
  return inv;
}

/** The seed hash whose mixed hash is `x`. */
function hashMixingTo(x: number): number {
  return Math.imul(x, inverse(BUCKET_MIX));
}

/** The definition of the seed hash, one word at a time (seedHash writes the 16-byte seed out). */
function naiveSeedHash(v: DataView, p: number, mul: Int32Array): number {
  let h = 0;
  for (let j = 0; j < mul.length; j++) {
    h = Math.imul(h ^ v.getInt32(p + 4 * j), mul[j]!);
    h ^= h >>> 15;
  }
  return h;
}

describe('diff extension and seed hashing', () => {
  it('forwardMatch counts equal bytes up to max, wherever the first difference falls', () => {
    const a = new Uint8Array(300).map((_, i) => (i * 7 + 3) & 0xff);
    const ai = 2;
    for (const shift of [0, 1, 3]) {
      const bi = ai + shift; // b's copy of a sits at another alignment
      for (let diffAt = 0; diffAt <= 72; diffAt++) {
        const b = new Uint8Array(300);
        b.set(a.subarray(ai, ai + 200), bi);
        b[bi + diffAt] ^= 0x40;
        for (let max = 0; max <= 70; max++) expect(forwardMatch(view(a), ai, view(b), bi, max)).toBe(Math.min(max, diffAt));
      }
    }
  });

  it('forwardMatch agrees with the byte loop on arbitrary inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(299), fc.nat(299), fc.nat(300), fc.array(fc.nat(299), { maxLength: 3 }), (x, i, j, m, flips) => {
        const a = x.slice();
        const b = x.slice();
        for (const f of flips) b[f % b.length] ^= 1;
        const ai = i % a.length;
        const bi = j % b.length;
        const max = Math.min(m, a.length - ai, b.length - bi);
        expect(forwardMatch(view(a), ai, view(b), bi, max)).toBe(naiveMatch(a, ai, b, bi, max));
      }),
      { numRuns: 500 },
    );
  });

  it('touchBuckets folds exactly the first count entries it is pointed at, eight a pass or fewer', () => {
    const table = new Int32Array(64).map((_, i) => Math.imul(i + 1, 0x9e3779b1));
    const at = new Int32Array(40).map((_, j) => (j * 37) % 64);
    for (let count = 0; count <= at.length; count++) {
      let want = 0;
      for (let j = 0; j < count; j++) want ^= table[at[j]!]!;
      expect(touchBuckets(table, at, count), `${count} entries`).toBe(want);
    }
  });

  it('seedBucket maps any hash into [0, buckets): the exact bucket, or a neighbour where the product rounds', () => {
    const top = hashMixingTo(-1);
    expect(Math.imul(top, BUCKET_MIX) >>> 0).toBe(2 ** 32 - 1);
    // A mixed hash whose product with 2^29 - 1 is one below a multiple of 2^32: rounding the
    // product moves it to the next bucket.
    const odd = 2 ** 29 - 1;
    const nearEdge = hashMixingTo(Math.imul(-1, inverse(odd)));
    const counts = fc.oneof(fc.integer({ min: 1, max: 2 ** 29 }), fc.constantFrom(1, 3, 16, 2 ** 24 + 1, 3 * 2 ** 27, odd, 2 ** 29));
    const hashes = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(0, top, top - 1, nearEdge));
    fc.assert(
      fc.property(hashes, counts, (h, buckets) => {
        const b = seedBucket(h, buckets);
        expect(Number.isInteger(b) && b >= 0 && b < buckets).toBe(true);
        expect(Math.abs(b - exactBucket(h, buckets))).toBeLessThanOrEqual(1);
      }),
      { numRuns: 5000 },
    );
    for (const n of [1, 16, odd, 2 ** 29]) expect(seedBucket(top, n)).toBe(n - 1);
  });

  it('seedBucket spreads hashes evenly over a bucket count that is not a power of two', () => {
    const counts = new Int32Array(1000);
    let h = 1;
    for (let i = 0; i < 1_000_000; i++) {
      h = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + 0x6a09e667) | 0;
      counts[seedBucket(h, counts.length)]++;
    }
    // 1000 a bucket on average, standard deviation ~32.
    expect(Math.min(...counts)).toBeGreaterThan(850);
    expect(Math.max(...counts)).toBeLessThan(1150);
  });

  it('seedHash is the word-at-a-time hash for every seed length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 128 }), fc.integer({ min: 1, max: 16 }), fc.nat(63), (bytes, words, at) => {
        const mul = seedMultipliers(words * 4);
        const p = Math.min(at, bytes.length - words * 4);
        expect(seedHash(view(bytes), p, mul)).toBe(naiveSeedHash(view(bytes), p, mul));
      }),
      { numRuns: 500 },
    );
  });
});
