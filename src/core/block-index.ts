import { checkSignatureParams } from './block-size.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import type { HasherFactory } from './hash.js';
import type { Signature } from './params.js';
import { createStrongSummer, type StrongSummer } from './strong-hash.js';

/**
 * Most chain entries a lookup examines, and most entries a bucket holds. With a table at least twice
 * the block count, honest chains are a few entries long; the cap only bites when many blocks share a
 * weak sum or a bucket (a crafted signature, or a weak rollsum on very regular data). It bounds the
 * strong sums compared per target position, so matching stays linear whatever the signature: at most
 * `1 + MAX_CANDIDATES` comparisons per position (the extra one is the block after the last match).
 * Blocks beyond the cap are left out of the table; they can still be found as "the next block".
 */
export const MAX_CANDIDATES = 64;

/** Knuth's multiplicative constant: spreads the weak sum's bits before taking the top ones. */
export const WEAK_MIX = 0x9e3779b1 | 0;

/**
 * Bucket of weak sum `weak` in a table of 2^(32-shift) entries: the weak sum's halves are folded
 * and multiplied so both rollsums' poorly mixed low bits spread (the matcher inlines this).
 * @example
 * const b = weakBucket(sig.weak[0], index.shift);
 */
export function weakBucket(weak: number, shift: number): number {
  return Math.imul(weak ^ (weak >>> 16), WEAK_MIX) >>> shift;
}

/**
 * A lookup table over a signature's blocks for the rsync-mode matcher: head/next chains in
 * Int32Array over a power-of-two table keyed by the mixed weak sum, holding block numbers in
 * ascending order. Identical blocks (same weak and strong sums) are kept once, the first. The strong
 * sum of a target window is computed only when some block has its weak sum, and at most once.
 * A possibly short last block is kept apart (see {@link BlockIndex.lastLength}).
 * @example
 * const index = new BlockIndex(sig);
 * const block = index.find(weakOfWindow, target, pos, -1); // -1: no block matches
 */
export class BlockIndex {
  readonly sig: Signature;
  readonly blockLength: number;
  readonly strongLength: number;
  /** Blocks in the table: those known to be `blockLength` long. */
  readonly fullBlocks: number;
  /** Length of a short last block, 0 when there is none, -1 when unknown (rdiff signatures). */
  readonly lastLength: number;
  /** First block of each bucket's chain, -1 for none. */
  readonly head: Int32Array;
  /** Next block in the same bucket, -1 at the end. */
  readonly next: Int32Array;
  /** 32 - log2(table size): `weakBucket(weak, shift)` gives a bucket. */
  readonly shift: number;
  /**
   * A bit per mixed weak sum (about 64 bits per block, so ~1.5% are set): the matcher tests it
   * before the table, since a mostly-not-taken branch is far cheaper than a 40%-taken one.
   */
  readonly filter: Int32Array;
  /** 32 - log2(filter bits): bit `weakBucket(weak, filterShift)` of `filter`. */
  readonly filterShift: number;
  /** Blocks left out: duplicates and those past a full bucket. */
  readonly skipped: number;
  /** Strong sums of target windows computed so far (a cost counter). */
  strongSums = 0;
  /** Strong-sum comparisons made so far (a cost counter for complexity tests). */
  strongCompares = 0;
  private readonly summer: StrongSummer;
  private readonly windowStrong: Uint8Array;

  /** `opts.sha256`: a faster SHA-256 for signatures whose strong hash is 'sha256'. */
  constructor(sig: Signature, opts: { sha256?: HasherFactory } = {}) {
    checkSignature(sig);
    this.sig = sig;
    const bl = sig.blockLength;
    const sl = sig.strongLength;
    const n = sig.blockCount;
    this.blockLength = bl;
    this.strongLength = sl;
    this.summer = createStrongSummer(sig.hash, opts);
    this.windowStrong = new Uint8Array(sl);
    let full = n;
    let last = 0;
    if (n > 0) {
      if (sig.basisLength === undefined) last = -1;
      else {
        const tail = sig.basisLength - (n - 1) * bl;
        if (tail < bl) {
          full = n - 1;
          last = tail;
        }
      }
    }
    this.fullBlocks = full;
    this.lastLength = last;

    let bits = 4;
    while (bits < 30 && 1 << bits < 2 * full) bits++;
    const size = 1 << bits;
    this.shift = 32 - bits;
    let filterBits = 10;
    while (filterBits < 26 && 1 << filterBits < 64 * full) filterBits++;
    this.filterShift = 32 - filterBits;
    const filter = new Int32Array(1 << (filterBits - 5));
    const head = new Int32Array(size).fill(-1);
    const next = new Int32Array(Math.max(full, 1)).fill(-1);
    const tailOf = new Int32Array(size);
    const chainLength = new Uint8Array(size);
    const weak = sig.weak;
    const strong = sig.strong;
    let skipped = 0;
    for (let i = 0; i < full; i++) {
      const w = weak[i];
      const b = weakBucket(w, this.shift);
      const len = chainLength[b];
      if (len >= MAX_CANDIDATES) {
        skipped++;
        continue;
      }
      let dup = false;
      for (let j = head[b]; j >= 0; j = next[j]) {
        if (weak[j] === w && sameStrong(strong, j * sl, strong, i * sl, sl)) {
          dup = true;
          break;
        }
      }
      if (dup) {
        skipped++;
        continue;
      }
      const f = weakBucket(w, this.filterShift);
      filter[f >>> 5] |= 1 << (f & 31);
      if (len === 0) head[b] = i;
      else next[tailOf[b]] = i;
      tailOf[b] = i;
      chainLength[b] = len + 1;
    }
    this.head = head;
    this.next = next;
    this.filter = filter;
    this.skipped = skipped;
  }

  /**
   * The block whose sums equal those of `data[start, start + blockLength)`, whose weak sum is `weak`
   * (uint32), or -1. `preferred` (the block after the previous match, or -1) is tried first so that
   * copies merge. Examines at most 1 + MAX_CANDIDATES blocks.
   * @example
   * const block = index.find(weakSum('rabinkarp', t, p, p + bl), t, p, prev + 1);
   */
  find(weak: number, data: Uint8Array, start: number, preferred: number): number {
    const sl = this.strongLength;
    const sigWeak = this.sig.weak;
    const strong = this.sig.strong;
    const mine = this.windowStrong;
    let summed = false;
    if (preferred >= 0 && preferred < this.fullBlocks && sigWeak[preferred] === weak) {
      this.sum(data, start, start + this.blockLength);
      summed = true;
      this.strongCompares++;
      if (sameStrong(strong, preferred * sl, mine, 0, sl)) return preferred;
    }
    const next = this.next;
    let budget = MAX_CANDIDATES;
    for (let j = this.head[weakBucket(weak, this.shift)]; j >= 0 && budget > 0; j = next[j], budget--) {
      if (sigWeak[j] !== weak || j === preferred) continue;
      if (!summed) {
        this.sum(data, start, start + this.blockLength);
        summed = true;
      }
      this.strongCompares++;
      if (sameStrong(strong, j * sl, mine, 0, sl)) return j;
    }
    return -1;
  }

  /**
   * True when block `block`'s sums equal those of `data[start, end)` (weak sum `weak`, uint32).
   * Used for the last block, whose length may differ from blockLength.
   * @example
   * index.matches(sig.blockCount - 1, weakSum(sig.rollsum, t, t.length - r), t, t.length - r, t.length);
   */
  matches(block: number, weak: number, data: Uint8Array, start: number, end: number): boolean {
    if (this.sig.weak[block] !== weak) return false;
    this.sum(data, start, end);
    this.strongCompares++;
    return sameStrong(this.sig.strong, block * this.strongLength, this.windowStrong, 0, this.strongLength);
  }

  private sum(data: Uint8Array, start: number, end: number): void {
    this.strongSums++;
    this.summer.sumInto(data, start, end, this.windowStrong, 0, this.strongLength);
  }
}

function sameStrong(a: Uint8Array, ai: number, b: Uint8Array, bi: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[ai + k] !== b[bi + k]) return false;
  return true;
}

/** A signature is often decoded from hostile bytes or made by hand: check its shape once. */
function checkSignature(sig: Signature): void {
  checkSignatureParams(sig);
  const n = sig.blockCount;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`signature blockCount must be a non-negative integer, got ${n}`);
  if (!(sig.weak instanceof Uint32Array) || sig.weak.length < n) {
    throw invalid(`signature weak sums must be a Uint32Array of at least blockCount (${n}) entries`);
  }
  if (!(sig.strong instanceof Uint8Array) || sig.strong.length < n * sig.strongLength) {
    throw invalid(`signature strong sums must be a Uint8Array of at least blockCount * strongLength (${n * sig.strongLength}) bytes`);
  }
  if (n >= 2 ** 31) throw invalid(`signature has ${n} blocks; at most 2^31 - 1 are supported`);
  const len = sig.basisLength;
  if (len !== undefined) {
    const want = Math.ceil(len / sig.blockLength);
    if (!Number.isSafeInteger(len) || len < 0 || want !== n) {
      throw invalid(`signature basisLength ${len} needs ${want} blocks of ${sig.blockLength} bytes, but it has ${n}: the signature is inconsistent`);
    }
  }
}

function invalid(message: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, message);
}
