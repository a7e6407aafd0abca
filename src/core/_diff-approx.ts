/**
 * bsdiff's approximate extension: how far a displacement keeps explaining the target when bytes
 * only mostly agree (recompiled code whose embedded addresses shifted, tar headers whose mtimes
 * changed). The score of a prefix is `5 * agreements - 2 * length`; the best prefix is the one with
 * the highest positive score, so a region is kept while more than 40% of its bytes agree. bsdiff
 * uses 50%; 40% measured 1-4% smaller deltas here (deflate codes a mismatching diff byte about as
 * cheaply as a literal, and the region saves the ops around it).
 */

/**
 * Length of the best-scoring prefix of `t[from..to)` against `b[c..]` (0 if no prefix scores above
 * 0). `c` may lie outside `b`: only the part inside is compared.
 * @example
 * forwardApprox(basis, 100, target, 40, 90); // e.g. 37: bytes 40..77 are an approximate copy of 100..137
 */
export function forwardApprox(b: Uint8Array, c: number, t: Uint8Array, from: number, to: number): number {
  if (c < 0 || c >= b.length) return 0;
  const max = Math.min(to - from, b.length - c);
  let s = 0;
  let best = 0;
  let len = 0;
  for (let k = 0; k < max; k++) {
    if (b[c + k] === t[from + k]) s++;
    const score = 5 * s - 2 * (k + 1);
    if (score > best) {
      best = score;
      len = k + 1;
    }
  }
  return len;
}

/**
 * Length of the best-scoring suffix of `t[from..to)` against the basis bytes just before `b[c]`
 * (`t[to - k]` is compared with `b[c - k]`).
 * @example
 * backwardApprox(basis, 500, target, 40, 90); // e.g. 12: bytes 78..89 approximate 488..499
 */
export function backwardApprox(b: Uint8Array, c: number, t: Uint8Array, from: number, to: number): number {
  if (c <= 0 || c > b.length) return 0;
  const max = Math.min(to - from, c);
  let s = 0;
  let best = 0;
  let len = 0;
  for (let k = 1; k <= max; k++) {
    if (b[c - k] === t[to - k]) s++;
    const score = 5 * s - 2 * k;
    if (score > best) {
      best = score;
      len = k;
    }
  }
  return len;
}

/**
 * When a forward region `t[from, from + lenf)` (against `b[cf..]`) and a backward region
 * `t[to - lenb, to)` (against `b[..cb)`) overlap, the split inside the overlap that keeps the most
 * agreements (bsdiff's rule). Returns the new forward length; the backward region then starts where
 * the forward one ends.
 * @example
 * splitOverlap(basis, 100, 600, target, 40, 90, 40, 20); // forward length after the split
 */
export function splitOverlap(b: Uint8Array, cf: number, cb: number, t: Uint8Array, from: number, to: number, lenf: number, lenb: number): number {
  const overlap = from + lenf - (to - lenb);
  if (overlap <= 0) return lenf;
  const fStart = from + lenf - overlap;
  const bStart = to - lenb;
  const cbStart = cb - lenb;
  const cfStart = cf + lenf - overlap;
  let s = 0;
  let best = 0;
  let keep = 0;
  for (let i = 0; i < overlap; i++) {
    if (t[fStart + i] === b[cfStart + i]) s++;
    if (t[bStart + i] === b[cbStart + i]) s--;
    if (s > best) {
      best = s;
      keep = i + 1;
    }
  }
  return lenf - overlap + keep;
}
