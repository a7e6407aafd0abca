import { backwardApprox, forwardApprox, splitOverlap } from './_diff-approx.js';
import { DiffEmitter } from './_diff-emit.js';
import { forwardMatch } from './_diff-extend.js';
import { seedBucket, seedCheck, seedHash, seedMultipliers, touchBuckets } from './_diff-hash.js';
import { assertBytes } from './bytes.js';
import { DiffIndex } from './diff-index.js';
import { type DiffOptions, resolveDiffOptions } from './diff-options.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import type { OpSink } from './ops.js';

/** Longest forward extension per step, and the look-ahead a position waits for before it is decided. */
const MAX_EXTEND = 1 << 16;
/** A pending literal longer than this is emitted; backward extension never reaches past it. */
const LITERAL_CAP = 1 << 18;
/** Target bytes copied into the window per step, which bounds the window whatever the chunk size. */
const PUSH_SLICE = 1 << 20;
/**
 * Shortest copy at a recent displacement (capped by minMatch). Measured: 8 let periodic tables
 * (16-byte records with 9 equal bytes) split into copy/literal pairs that cost more than the literal
 * deflates to, and stole positions from real matches; 24 gave ~8% smaller deltas on edited binaries.
 */
const REP_MIN = 24;
/**
 * After SKIP_AFTER bytes without any match, positions are examined only every 3rd byte (after
 * SKIP_FAR every 7th, after SKIP_FARTHEST every 31st): steps coprime with the stride, so every
 * displacement still meets an indexed seed within `stride * step` bytes, and backward extension
 * recovers the start. New content is scanned 3x faster; the measured deltas changed by under 0.1%.
 */
const SKIP_AFTER = 1024;
const SKIP_FAR = 16384;
const SKIP_FARTHEST = 1 << 18;
/** See the acceptance rule in process(): bsdiff's margin of 8. */
const OLD_MARGIN = 8;
/**
 * Approximate anchors (see process()): at target positions that are multiples of 16, a recent
 * displacement agreeing on at least ANCHOR_MIN of the next ANCHOR_WINDOW bytes (and on 8 more than
 * the current one) starts an approximate region.
 */
const ANCHOR_MASK = 15;
const ANCHOR_WINDOW = 32;
const ANCHOR_MIN = 28;
/** Target positions hashed (and their buckets touched) ahead at once. */
const BATCH = 64;
/** Keeps the bucket-touching loads from being optimised away. */
let touchSink = 0;

/**
 * Streaming two-sided diff: the basis in memory (indexed once by {@link DiffIndex}), the target
 * pushed in chunks of any size, COPY/LITERAL ops out to an {@link OpSink}. Matches start at any basis
 * byte: strided seeds are found by hashing every target position (in batches, so the table's cache
 * misses overlap), verified, and extended forward and backward into the pending literal; at every
 * position the last three basis-target displacements are tried first, which resumes after
 * substitutions, insertions and deletions without hashing. The ops depend only on the bytes, never
 * on how the target was cut into chunks: a position is decided only once 64 KiB after it are
 * buffered (or at finish), and literal flushes happen at fixed points.
 *
 * With a sink that has `add()` (and `approximate` not false), the bytes between matches are first
 * explained approximately, as bsdiff does: the previous match's displacement is extended forward and
 * the next one's backward while more than 40% of the bytes agree, and those regions become ADD ops
 * (basis plus a mostly-zero diff); a match at a new displacement must disagree with the current one
 * on more than 8 of its bytes to be taken; recent displacements that agree approximately resume a
 * region even without an exact match. Only the rest stays literal.
 *
 * Memory: basis + index + a target window of about 2 MiB at most (256 KiB pending literal, 64 KiB
 * look-ahead, 1 MiB push slice). Work per target byte is bounded by `maxCandidates` verifications.
 * With a prebuilt index, its seedLength and stride apply and those in `opts` are ignored.
 * @example
 * const m = new DiffMatcher(basis, sink);
 * for (const chunk of targetChunks) m.push(chunk);
 * m.finish();
 */
export class DiffMatcher {
  /** Positions examined plus bytes compared so far (a cost counter for complexity tests). */
  work = 0;
  private readonly index: DiffIndex;
  private readonly minMatch: number;
  private readonly repMin: number;
  private readonly maxCandidates: number;
  private readonly mul: Int32Array;
  /** Bucket and check bits of every batchStep-th position of [batchStart, batchEnd). */
  private readonly hb = new Int32Array(BATCH);
  private readonly hc = new Int32Array(BATCH);
  private batchStart = 0;
  private batchEnd = 0;
  private batchStep = 1;
  /** Absolute target position where the current run without matches began. */
  private missFrom = 0;
  /** Examination steps by how long the run without matches is: 1, then after SKIP_AFTER, SKIP_FAR, SKIP_FARTHEST. */
  private readonly steps: Int32Array;
  private buf: Uint8Array;
  private view: DataView;
  /** Absolute target position of buf[0]. */
  private base = 0;
  /** Bytes of buf in use. */
  private end = 0;
  /** Next position to decide (index into buf). */
  private pos = 0;
  /** Start of the pending literal (index into buf). */
  private lit = 0;
  /** Recent displacements (basis position minus target position), most recent first. */
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  /** Output stage: merges copies, builds and folds ADD ops. */
  private readonly out: DiffEmitter;
  /** Whether literal gaps are first explained approximately (ADD ops); needs a sink with add(). */
  private readonly approx: boolean;
  /** Displacement of the last match, and whether the pending literal starts right after it. */
  private prevD = 0;
  private prevValid = true;
  private finished = false;

  constructor(basis: Uint8Array | DiffIndex, sink: OpSink, opts: DiffOptions = {}) {
    if (basis instanceof DiffIndex) {
      this.index = basis;
      const o = resolveDiffOptions(basis.basis.length, opts);
      this.minMatch = o.minMatch;
      this.maxCandidates = Math.min(o.maxCandidates, basis.slots);
    } else {
      assertBytes(basis, 'basis');
      this.index = DiffIndex.build(basis, opts);
      const o = resolveDiffOptions(basis.length, opts);
      this.minMatch = o.minMatch;
      this.maxCandidates = o.maxCandidates;
    }
    const approximate = opts.approximate;
    if (approximate !== undefined && typeof approximate !== 'boolean') {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `diff option approximate must be a boolean, got ${typeof approximate}`);
    }
    if (sink === null || typeof sink !== 'object' || typeof sink.copy !== 'function' || typeof sink.literal !== 'function') {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'sink must be an OpSink with copy() and literal() methods');
    }
    this.approx = approximate !== false && typeof sink.add === 'function';
    this.out = new DiffEmitter(this.index.basis, sink, this.approx);
    this.repMin = Math.min(REP_MIN, this.minMatch);
    // Distinct impossible displacements so that only rep0 = 0 ("same position") is tried at first.
    this.rep1 = -0x100000000;
    this.rep2 = -0x200000000;
    this.mul = seedMultipliers(this.index.seedLength);
    const stride = this.index.stride;
    this.steps = Int32Array.of(1, coprimeStep(3, stride), coprimeStep(7, stride), coprimeStep(31, stride));
    this.buf = new Uint8Array(1 << 16);
    this.view = new DataView(this.buf.buffer);
  }

  /**
   * Adds target bytes (any chunk size, including empty). The chunk is copied; the caller may reuse it.
   * @example
   * m.push(chunk);
   */
  push(chunk: Uint8Array): void {
    assertBytes(chunk, 'chunk');
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'push() after finish(): create a new DiffMatcher per target');
    for (let o = 0; o < chunk.length; o += PUSH_SLICE) {
      const part = chunk.subarray(o, Math.min(chunk.length, o + PUSH_SLICE));
      this.makeRoom(part.length);
      this.buf.set(part, this.end);
      this.end += part.length;
      this.process(this.end - MAX_EXTEND);
    }
  }

  /**
   * Decides the rest of the target and emits the last ops. Call once, after the last push.
   * @example
   * m.finish();
   */
  finish(): void {
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'finish() called twice: create a new DiffMatcher per target');
    this.finished = true;
    this.process(this.end);
    if (this.end > this.lit) this.emitGap(this.lit, this.end, this.prevValid ? this.base + this.lit + this.prevD : -1, -1);
    this.lit = this.end;
    this.out.flush();
  }

  /** Ensures `extra` free bytes after `end`, dropping bytes no decision can look at again. */
  private makeRoom(extra: number): void {
    if (this.end + extra <= this.buf.length) return;
    const keep = Math.min(this.lit, this.pos);
    const live = this.end - keep;
    let cap = this.buf.length;
    while (live + extra > cap) cap *= 2;
    if (cap !== this.buf.length) {
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(keep, this.end));
      this.buf = next;
      this.view = new DataView(next.buffer);
    } else {
      this.buf.copyWithin(0, keep, this.end);
    }
    this.base += keep;
    this.end -= keep;
    this.pos -= keep;
    this.lit -= keep;
    this.batchStart = this.batchEnd = 0;
  }

  /** Decides every position before `limit` (a buffer index). */
  private process(limit: number): void {
    const { buf, view, index, minMatch, repMin, maxCandidates, mul, hb, hc } = this;
    const { basis, seedLength: L, stride: S, slots, table, posBits, checkBits } = index;
    const bview = index.view;
    const n = basis.length;
    const end = this.end;
    const buckets = index.buckets;
    const posMask = posBits >= 31 ? 0x7fffffff : (1 << posBits) - 1;
    const hashLimit = n >= L ? Math.min(limit, end - L + 1) : 0;
    let i = this.pos;
    let lit = this.lit;
    let bStart = this.batchStart;
    let bEnd = this.batchEnd;
    let rep0 = this.rep0;
    let rep1 = this.rep1;
    let rep2 = this.rep2;
    let missFrom = this.missFrom;
    let bStep = this.batchStep;
    const approx = this.approx;
    let prevD = this.prevD;
    let prevValid = this.prevValid;
    const steps = this.steps;
    let work = 0;
    let touched = 0;
    while (i < limit) {
      const abs = this.base + i;
      // In a long run without matches (new content) only every step-th position is examined; the
      // steps are coprime with the stride and backward extension recovers the skipped bytes.
      const run = abs - missFrom;
      // Every comparison runs at every position: one first reached once the loop was optimised (a
      // run past SKIP_FAR) had no type feedback, and sent the whole loop back to the interpreter
      // for a recompile of 15-25 ms (--trace-deopt; two such on an 8 MiB random target).
      const step = steps[(run >= SKIP_AFTER ? 1 : 0) + (run >= SKIP_FAR ? 1 : 0) + (run >= SKIP_FARTHEST ? 1 : 0)]!;
      const off = run % step;
      if (off !== 0) {
        i = Math.min(limit, i + step - off);
        continue;
      }
      // Only examined positions may flush, so flush points do not depend on chunk boundaries.
      work++;
      if (i - lit >= LITERAL_CAP) {
        this.emitGap(lit, lit + LITERAL_CAP, prevValid ? this.base + lit + prevD : -1, -1);
        prevValid = false;
        lit += LITERAL_CAP;
      }
      const maxLen = Math.min(MAX_EXTEND, end - i);
      const repBackLim = Math.min(step - 1, i - lit);
      // 1. Recent displacements: cheap, and the usual way an edited region resumes.
      let bestC = -1;
      let bestLen = 0;
      let bestBack = 0;
      for (let r = 0; r < 3; r++) {
        const c0 = abs + (r === 0 ? rep0 : r === 1 ? rep1 : rep2);
        if (c0 < 0 || c0 >= n) continue;
        const c = c0 | 0;
        if (basis[c] !== buf[i]) continue;
        const k = forwardMatch(bview, c, view, i, Math.min(maxLen, n - c));
        let back = 0;
        const backLim = Math.min(repBackLim, c);
        while (back < backLim && basis[c - back - 1] === buf[i - back - 1]) back++;
        work += k + back;
        if (k + back > bestLen + bestBack) {
          bestLen = k;
          bestBack = back;
          bestC = c;
        }
      }
      if (bestLen + bestBack < repMin && !(bestLen > 0 && bestLen === maxLen)) {
        bestLen = 0;
        bestBack = 0;
        bestC = -1;
        // 2. Seeds from the index.
        if (i < hashLimit) {
          if (i >= bEnd || step !== bStep) {
            // Hash a batch of positions ahead and touch their buckets: the loads overlap in the
            // CPU, so the table's cache misses are paid once per batch rather than per position.
            // A match drops the batch (bEnd = bStart), so only positions this run examines are read.
            const cnt = Math.min(BATCH * step, hashLimit - i);
            let hashed = 0;
            for (let j = 0; j < cnt; j += step, hashed++) {
              const h = seedHash(view, i + j, mul);
              hb[hashed] = seedBucket(h, buckets) * slots;
              hc[hashed] = seedCheck(h, checkBits);
            }
            touched ^= touchBuckets(table, hb, hashed);
            bStart = i;
            bEnd = i + cnt;
            bStep = step;
          }
          const slot = (i - bStart) / step;
          const b = hb[slot];
          const check = hc[slot];
          for (let s = 0, tried = 0; s < slots && tried < maxCandidates; s++) {
            const e = table[b + s];
            if (e === -1) break;
            if (e >>> posBits !== check) continue;
            tried++;
            const c = (e & posMask) * S;
            const k = forwardMatch(bview, c, view, i, Math.min(maxLen, n - c));
            if (k < L) {
              work += k + 1;
              continue;
            }
            let back = 0;
            const backLim = Math.min(i - lit, c);
            while (back < backLim && basis[c - back - 1] === buf[i - back - 1]) back++;
            work += k + back;
            if (k + back > bestLen + bestBack) {
              bestLen = k;
              bestBack = back;
              bestC = c;
              if (k === maxLen) break;
            }
          }
          if (bestLen + bestBack < minMatch && bestLen !== maxLen) bestC = -1;
        }
      }
      if (bestC >= 0 && approx && prevValid && bestC - abs !== prevD) {
        // bsdiff's rule: inside an approximate region, a match at another displacement is taken
        // only if the current displacement disagrees on more than OLD_MARGIN of its bytes; else a
        // coincidental match (zeros, padding) would cut the region in two. A rejected match's
        // bytes are skipped: the current displacement explains them.
        const c0 = abs + prevD;
        const span = c0 >= 0 ? Math.min(bestLen, n - c0) : 0;
        let miss = bestLen - span;
        let k = 0;
        for (; k < span && miss <= OLD_MARGIN; k++) miss += basis[c0 + k] === buf[i + k] ? 0 : 1;
        work += k;
        if (miss <= OLD_MARGIN) {
          i += bestLen;
          continue;
        }
      }
      if (bestC < 0) {
        if (approx && (abs & ANCHOR_MASK) === 0 && end - i >= ANCHOR_WINDOW) {
          // No exact match: a recent displacement may still agree approximately (recompiled code
          // whose exact runs are shorter than minMatch). Sampled every 16th byte, early exits.
          let oldAgree = 0;
          if (prevValid) {
            const c = abs + prevD;
            if (c >= 0 && c + ANCHOR_WINDOW <= n) for (let k = 0; k < ANCHOR_WINDOW; k++) oldAgree += basis[c + k] === buf[i + k] ? 1 : 0;
            work += ANCHOR_WINDOW;
          }
          let anchor = -1;
          let anchorAgree = Math.max(ANCHOR_MIN - 1, oldAgree + OLD_MARGIN - 1);
          for (let r = 0; r < 3; r++) {
            const d = r === 0 ? rep0 : r === 1 ? rep1 : rep2;
            if (prevValid && d === prevD) continue;
            const c = abs + d;
            if (c < 0 || c + ANCHOR_WINDOW > n) continue;
            let agree = 0;
            let k = 0;
            for (; k < ANCHOR_WINDOW && agree + ANCHOR_WINDOW - k > anchorAgree; k++) agree += basis[c + k] === buf[i + k] ? 1 : 0;
            work += k;
            if (agree > anchorAgree) {
              anchorAgree = agree;
              anchor = r;
            }
          }
          if (anchor >= 0) {
            const d = anchor === 0 ? rep0 : anchor === 1 ? rep1 : rep2;
            if (i > lit) this.emitGap(lit, i, prevValid ? this.base + lit + prevD : -1, abs + d);
            lit = i;
            prevD = d;
            prevValid = true;
            if (anchor === 1) {
              rep1 = rep0;
              rep0 = d;
            } else if (anchor === 2) {
              rep2 = rep1;
              rep1 = rep0;
              rep0 = d;
            }
          }
        }
        i++;
        continue;
      }
      // Emit the literal before the match, then the copy; remember the displacement.
      const start = i - bestBack;
      if (start > lit) this.emitGap(lit, start, prevValid ? this.base + lit + prevD : -1, bestC - bestBack);
      this.out.copy(bestC - bestBack, bestBack + bestLen);
      const d = bestC - abs;
      prevD = d;
      prevValid = true;
      if (d !== rep0) {
        if (d === rep1) {
          rep1 = rep0;
        } else {
          rep2 = rep1;
          rep1 = rep0;
        }
        rep0 = d;
      }
      i += bestLen;
      lit = i;
      missFrom = this.base + i;
      bEnd = bStart;
    }
    this.pos = i;
    this.lit = lit;
    this.batchStart = bStart;
    this.batchEnd = bEnd;
    this.rep0 = rep0;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.missFrom = missFrom;
    this.batchStep = bStep;
    this.prevD = prevD;
    this.prevValid = prevValid;
    this.work += work;
    touchSink ^= touched;
  }

  /**
   * Emits the target bytes [from, to) between two matches (or before the end): with approximate
   * matching, the part the previous match's displacement still mostly explains and the part the next
   * match's explain become ADD ops, the rest a literal. `cf` is the basis position the previous
   * match's displacement gives byte `from`, `nextC` the next match's position of byte `to` (-1: none).
   */
  private emitGap(from: number, to: number, cf: number, nextC: number): void {
    const buf = this.buf;
    if (!this.approx) {
      this.out.literal(buf.subarray(from, to));
      return;
    }
    const basis = this.index.basis;
    let lenf = cf >= 0 ? forwardApprox(basis, cf, buf, from, to) : 0;
    let lenb = nextC >= 0 ? backwardApprox(basis, nextC, buf, from, to) : 0;
    if (lenf + lenb > to - from) {
      lenf = splitOverlap(basis, cf, nextC, buf, from, to, lenf, lenb);
      lenb = to - from - lenf;
    }
    this.work += 2 * (to - from);
    if (lenf > 0) this.out.add(cf, lenf, buf, from);
    if (from + lenf < to - lenb) this.out.literal(buf.subarray(from + lenf, to - lenb));
    if (lenb > 0) this.out.add(nextC - lenb, lenb, buf, to - lenb);
  }
}

/** The first odd step from `step` up that shares no factor with the stride. */
function coprimeStep(step: number, stride: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  while (gcd(step, stride) !== 1) step += 2;
  return step;
}

/**
 * Diffs a whole target against a basis (or a prebuilt {@link DiffIndex}) into `sink`.
 * @example
 * const ops = new OpCollector();
 * diffOps(oldBytes, newBytes, ops);
 * ops.finish(); // [{ type: 'copy', ... }, { type: 'literal', ... }, ...]
 */
export function diffOps(basis: Uint8Array | DiffIndex, target: Uint8Array, sink: OpSink, opts?: DiffOptions): void {
  assertBytes(target, 'target');
  const m = new DiffMatcher(basis, sink, opts);
  m.push(target);
  m.finish();
}
