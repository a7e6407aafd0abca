import { BlockIndex, WEAK_MIX } from './block-index.js';
import { assertBytes } from './bytes.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import type { HasherFactory } from './hash.js';
import type { OpSink } from './ops.js';
import type { Signature } from './params.js';
import { RABINKARP_ADJ, RABINKARP_MULT, rabinKarpOf, rabinKarpPow } from './rabinkarp.js';
import { createRollingChecksum, weakSum } from './rolling.js';
import { ROLLSUM_CHAR_OFFSET } from './rollsum.js';

/** A pending literal this long is emitted; it also bounds how far back the window buffer reaches. */
const LITERAL_CAP = 1 << 16;
/** Target bytes appended to the window per step, which bounds the buffer whatever the chunk size. */
const PUSH_SLICE = 1 << 20;

/** What the window hash holds. */
const NO_HASH = 0;
/** The hash is of the window at `pos`, which is not looked up yet. */
const FRESH = 1;
/** The window at `pos` was looked up and missed: roll once the next byte is there. */
const MISSED = 2;

/** Options of {@link DeltaMatcher}. */
export interface DeltaMatcherOptions {
  /** A prebuilt index of the same signature, to match many targets against one basis. */
  index?: BlockIndex;
  /** A faster SHA-256 (node:crypto) for signatures whose strong hash is 'sha256'. */
  sha256?: HasherFactory;
}

/**
 * Streaming rsync-mode matcher (librsync's algorithm): the weak sum of a blockLength window rolls
 * over the target; where a basis block has that weak sum and the same strong sum, a COPY of the
 * block is emitted and the window jumps a whole block, else the byte joins a pending literal.
 * Consecutive blocks merge into one COPY; literals go out at a copy, at the end, or every 64 KiB.
 * At the end of input the basis's short last block is matched against the target's tail.
 * The ops depend only on the bytes, never on how the target was cut into chunks.
 *
 * Memory: the signature and its index, plus a window of at most blockLength + 64 KiB + 1 MiB,
 * whatever the target's size. Work: one rolling step per byte, strong sums only on weak hits, at
 * most 1 + MAX_CANDIDATES strong comparisons per position.
 * @example
 * const m = new DeltaMatcher(sig, sink);
 * for (const chunk of targetChunks) m.push(chunk);
 * m.finish();
 */
export class DeltaMatcher {
  /** The lookup table (its counters measure the strong-sum work done). */
  readonly index: BlockIndex;
  private readonly sink: OpSink;
  private readonly blockLength: number;
  private readonly rollsum: boolean;
  /** RABINKARP_MULT^blockLength, to roll the oldest byte out. */
  private readonly pow: number;
  private buf: Uint8Array;
  /** Bytes of buf in use. */
  private end = 0;
  /** Start of the current window (index into buf). */
  private pos = 0;
  /** Start of the pending literal (index into buf). */
  private lit = 0;
  private state = NO_HASH;
  /** Rabin-Karp hash of the window (int32). */
  private h = 0;
  /** rsync rollsum halves of the window, each mod 2^16. */
  private s1 = 0;
  private s2 = 0;
  /** Last block matched: the next one is tried first, so copies merge. */
  private prev = -1;
  /** A copy held back so that a copy continuing it becomes one op. */
  private copyOffset = 0;
  private copyLength = 0;
  private total = 0;
  private finished = false;

  constructor(sig: Signature, sink: OpSink, opts: DeltaMatcherOptions = {}) {
    if (opts.index !== undefined) {
      if (!(opts.index instanceof BlockIndex) || opts.index.sig !== sig) {
        throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'opts.index must be a BlockIndex built from this same signature');
      }
      this.index = opts.index;
    } else {
      this.index = new BlockIndex(sig, { sha256: opts.sha256 });
    }
    if (sink === null || typeof sink !== 'object' || typeof sink.copy !== 'function' || typeof sink.literal !== 'function') {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'sink must be an OpSink with copy() and literal() methods');
    }
    this.sink = sink;
    this.blockLength = sig.blockLength;
    this.rollsum = sig.rollsum === 'rollsum';
    this.pow = rabinKarpPow(sig.blockLength) | 0;
    this.buf = new Uint8Array(Math.min(2 * sig.blockLength + LITERAL_CAP, 1 << 20));
  }

  /** Target bytes pushed so far. */
  get targetLength(): number {
    return this.total;
  }

  /** Matches the next bytes of the target; emits the ops they decide. */
  push(chunk: Uint8Array): void {
    assertBytes(chunk, 'chunk');
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'push() after finish(): make a new DeltaMatcher for another target');
    this.total += chunk.length;
    for (let i = 0; i < chunk.length; i += PUSH_SLICE) {
      this.append(chunk.subarray(i, Math.min(chunk.length, i + PUSH_SLICE)));
      this.run();
    }
  }

  /** Decides the tail of the target (matching the basis's short last block) and emits the last ops. */
  finish(): void {
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'finish() called twice');
    this.finished = true;
    if (this.state === MISSED) {
      // The window at pos missed and no byte follows: pos is a literal byte.
      this.pos++;
      if (this.pos - this.lit >= LITERAL_CAP) this.flushLiteral(this.pos);
    }
    this.state = NO_HASH;
    const { index, buf, end } = this;
    const n = index.sig.blockCount;
    const last = n - 1;
    let match = -1;
    let matchLength = 0;
    if (index.lastLength > 0 && end - this.pos >= index.lastLength) {
      const q = end - index.lastLength;
      if (index.matches(last, weakSum(index.sig.rollsum, buf, q, end), buf, q, end)) {
        match = q;
        matchLength = index.lastLength;
      }
    } else if (index.lastLength < 0 && end > this.pos) {
      // Length of the last block unknown (rdiff signature): try every tail, longest first.
      const rc = createRollingChecksum(index.sig.rollsum);
      rc.update(buf, this.pos, end);
      for (let q = this.pos; q < end; q++) {
        if (index.matches(last, rc.digest(), buf, q, end)) {
          match = q;
          matchLength = end - q;
          break;
        }
        rc.rollOut(buf[q]);
      }
    }
    if (match >= 0) {
      this.flushLiteral(match);
      this.emitCopy(last * this.blockLength, matchLength);
      this.lit = end;
    }
    this.flushLiteral(end);
    this.flushCopy();
    this.pos = this.lit = this.end = 0;
  }

  /** Appends bytes to the window buffer, first dropping what is decided and emitted. */
  private append(data: Uint8Array): void {
    const need = this.end - this.lit + data.length;
    if (this.end + data.length > this.buf.length) {
      const lit = this.lit;
      let buf = this.buf;
      if (need > buf.length) {
        // After run(), at most LITERAL_CAP + blockLength bytes are undecided, so need never exceeds this.
        const most = LITERAL_CAP + this.blockLength + PUSH_SLICE;
        buf = new Uint8Array(Math.max(need, Math.min(2 * buf.length, most)));
        buf.set(this.buf.subarray(lit, this.end));
      } else {
        buf.copyWithin(0, lit, this.end);
      }
      this.buf = buf;
      this.end -= lit;
      this.pos -= lit;
      this.lit = 0;
    }
    this.buf.set(data, this.end);
    this.end += data.length;
  }

  /** Decides every position whose window is complete. */
  private run(): void {
    const bl = this.blockLength;
    const end = this.end;
    for (;;) {
      if (this.state === NO_HASH) {
        if (this.pos + bl > end) return;
        this.hashWindow();
      } else if (this.state === MISSED) {
        if (this.pos + bl >= end) return;
        this.rollOne();
        if (this.pos - this.lit >= LITERAL_CAP) this.flushLiteral(this.pos);
      }
      const limit = Math.min(end - bl, this.lit + LITERAL_CAP);
      const block = this.rollsum ? this.scanRollsum(limit) : this.scanRabinKarp(limit);
      if (block >= 0) {
        this.flushLiteral(this.pos);
        this.emitCopy(block * bl, bl);
        this.pos += bl;
        this.lit = this.pos;
        this.prev = block;
        this.state = NO_HASH;
      } else {
        this.state = MISSED;
        if (this.pos - this.lit >= LITERAL_CAP) this.flushLiteral(this.pos);
      }
    }
  }

  /**
   * Looks up the window at pos, rolling forward while it misses and pos < limit. Returns the block
   * found (pos at the match) or -1 (pos at the last window looked up). The hot loop.
   */
  private scanRabinKarp(limit: number): number {
    const buf = this.buf;
    const head = this.index.head;
    const shift = this.index.shift;
    const filter = this.index.filter;
    const fshift = this.index.filterShift;
    const bl = this.blockLength;
    const pow = this.pow;
    const next = this.index.next;
    const weak = this.index.sig.weak;
    // Module constants copied to locals: bundled, they become mutable bindings reloaded every step.
    const mult = RABINKARP_MULT;
    const adj = RABINKARP_ADJ;
    const mix = WEAK_MIX;
    let h = this.h;
    let p = this.pos;
    for (;;) {
      const m = Math.imul(h ^ (h >>> 16), mix);
      const f = m >>> fshift;
      if ((filter[f >>> 5] & (1 << (f & 31))) !== 0) {
        // Walk the bucket inline (chains are short and capped); call find() only on a weak hit.
        let j = head[m >>> shift];
        while (j >= 0 && weak[j] !== h >>> 0) j = next[j];
        if (j >= 0) {
          const block = this.index.find(h >>> 0, buf, p, this.prev + 1);
          if (block >= 0) {
            this.pos = p;
            return block;
          }
        }
      }
      if (p >= limit) break;
      // h·MULT + in − MULT^n·(out + ADJ): drops the oldest byte and the seed's extra factor.
      h = (Math.imul(h, mult) + buf[p + bl] - Math.imul(pow, buf[p] + adj)) | 0;
      p++;
    }
    this.pos = p;
    this.h = h;
    return -1;
  }

  /** `scanRabinKarp` for the rsync rollsum (s1, s2 mod 2^16). */
  private scanRollsum(limit: number): number {
    const buf = this.buf;
    const head = this.index.head;
    const shift = this.index.shift;
    const filter = this.index.filter;
    const fshift = this.index.filterShift;
    const bl = this.blockLength;
    const next = this.index.next;
    const weak = this.index.sig.weak;
    const mix = WEAK_MIX;
    const offset = ROLLSUM_CHAR_OFFSET;
    let s1 = this.s1;
    let s2 = this.s2;
    let p = this.pos;
    for (;;) {
      const d = ((s2 << 16) | s1) >>> 0;
      const m = Math.imul(d ^ s2, mix);
      const f = m >>> fshift;
      if ((filter[f >>> 5] & (1 << (f & 31))) !== 0) {
        let j = head[m >>> shift];
        while (j >= 0 && weak[j] !== d) j = next[j];
        if (j >= 0) {
          const block = this.index.find(d, buf, p, this.prev + 1);
          if (block >= 0) {
            this.pos = p;
            return block;
          }
        }
      }
      if (p >= limit) break;
      const out = buf[p];
      s1 = (s1 + buf[p + bl] - out) & 0xffff;
      s2 = (s2 + s1 - Math.imul(bl, out + offset)) & 0xffff;
      p++;
    }
    this.pos = p;
    this.s1 = s1;
    this.s2 = s2;
    return -1;
  }

  /** Weak sum of the window at pos from scratch (after a jump); state becomes FRESH. */
  private hashWindow(): void {
    const buf = this.buf;
    const start = this.pos;
    const stop = start + this.blockLength;
    if (this.rollsum) {
      const offset = ROLLSUM_CHAR_OFFSET;
      let s1 = 0;
      let s2 = 0;
      for (let i = start; i < stop; i++) {
        s1 = (s1 + buf[i] + offset) & 0xffff;
        s2 = (s2 + s1) & 0xffff;
      }
      this.s1 = s1;
      this.s2 = s2;
    } else {
      // After every match: a from-scratch pass over each copied block, so it is unrolled too.
      this.h = rabinKarpOf(buf, start, stop) | 0;
    }
    this.state = FRESH;
  }

  /** Slides the window one byte (pos + blockLength < end); state becomes FRESH. */
  private rollOne(): void {
    const buf = this.buf;
    const p = this.pos;
    const bl = this.blockLength;
    const out = buf[p];
    const inb = buf[p + bl];
    if (this.rollsum) {
      this.s1 = (this.s1 + inb - out) & 0xffff;
      this.s2 = (this.s2 + this.s1 - Math.imul(bl, out + ROLLSUM_CHAR_OFFSET)) & 0xffff;
    } else {
      this.h = (Math.imul(this.h, RABINKARP_MULT) + inb - Math.imul(this.pow, out + RABINKARP_ADJ)) | 0;
    }
    this.pos = p + 1;
    this.state = FRESH;
  }

  /** Emits the pending literal up to `to` (index into buf), in pieces of at most LITERAL_CAP. */
  private flushLiteral(to: number): void {
    let from = this.lit;
    if (from >= to) return;
    this.flushCopy();
    for (; from < to; from += LITERAL_CAP) this.sink.literal(this.buf.subarray(from, Math.min(to, from + LITERAL_CAP)));
    this.lit = to;
  }

  private emitCopy(offset: number, length: number): void {
    if (this.copyLength > 0 && this.copyOffset + this.copyLength === offset) {
      this.copyLength += length;
      return;
    }
    this.flushCopy();
    this.copyOffset = offset;
    this.copyLength = length;
  }

  private flushCopy(): void {
    if (this.copyLength === 0) return;
    const n = this.copyLength;
    this.copyLength = 0;
    this.sink.copy(this.copyOffset, n);
  }
}

/**
 * rsync-mode delta ops of a whole target against a signature, into `sink`.
 * @example
 * const ops = new OpCollector();
 * matchDelta(buildSignature(oldBytes), newBytes, ops);
 * patchOps(oldBytes, ops.finish()); // equals newBytes
 */
export function matchDelta(sig: Signature, target: Uint8Array, sink: OpSink): void {
  const m = new DeltaMatcher(sig, sink);
  m.push(target);
  m.finish();
}
