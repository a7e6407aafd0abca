import type { OpSink } from './ops.js';

/**
 * An exact copy at most this long that touches an ADD at the same displacement is folded into it as
 * zero diff bytes: deflate spends a few bits on such a run, while a separate copy costs an op and
 * splits the add. Longer copies stay copies: deflate needs a symbol per 258 zeros, and on a tar
 * whose every header changed, 1024 gave a 2.8x larger delta than 256 (64: 1% larger on binaries).
 */
const FOLD_MAX = 256;
/** A pending ADD is handed on once it reaches this length: bounds the diff buffer. */
const ADD_FLUSH = 1 << 20;

const NONE = 0;
const COPY = 1;
const ADD = 2;

/**
 * Output stage of the two-sided diff: merges copies that continue each other, builds ADD ops
 * (diff = target - basis, mod 256) for approximate regions, folds short exact copies into adjacent
 * adds at the same displacement, and sends an add whose diff is all zero as a copy.
 * The sink must have `add` when {@link DiffEmitter.add} is used.
 * @example
 * const e = new DiffEmitter(basis, sink);
 * e.copy(0, 100); e.add(100, 20, target, 100); e.literal(target.subarray(120, 130)); e.flush();
 */
export class DiffEmitter {
  private readonly basis: Uint8Array;
  private readonly sink: OpSink;
  private kind = NONE;
  private offset = 0;
  private length = 0;
  /** Diff bytes of a pending ADD (`length` of them). */
  private diff = new Uint8Array(1 << 12);
  /** Non-zero diff bytes in the pending ADD. */
  private nonZero = 0;

  constructor(basis: Uint8Array, sink: OpSink) {
    this.basis = basis;
    this.sink = sink;
  }

  /** Emits literal bytes (after whatever is pending). */
  literal(data: Uint8Array): void {
    this.flush();
    this.sink.literal(data);
  }

  /** Queues `length` bytes copied from basis `offset`. */
  copy(offset: number, length: number): void {
    if (this.kind !== NONE && this.offset + this.length === offset) {
      if (this.kind === COPY) {
        this.length += length;
        return;
      }
      if (length <= FOLD_MAX) {
        this.grow(length);
        this.diff.fill(0, this.length, this.length + length);
        this.length += length;
        if (this.length >= ADD_FLUSH) this.flush();
        return;
      }
    }
    this.flush();
    this.kind = COPY;
    this.offset = offset;
    this.length = length;
  }

  /** Queues an approximate copy: target bytes `t[from, from + length)` against basis `offset`. */
  add(offset: number, length: number, t: Uint8Array, from: number): void {
    if (this.kind !== NONE && this.offset + this.length === offset && (this.kind === ADD || this.length <= FOLD_MAX)) {
      if (this.kind === COPY) {
        this.grow(0);
        this.diff.fill(0, 0, this.length);
        this.kind = ADD;
        this.nonZero = 0;
      }
    } else {
      this.flush();
      this.kind = ADD;
      this.offset = offset;
      this.length = 0;
      this.nonZero = 0;
    }
    this.grow(length);
    const b = this.basis;
    const d = this.diff;
    const o = this.length;
    let nz = 0;
    for (let i = 0; i < length; i++) {
      const v = (t[from + i]! - b[offset + i]!) & 0xff;
      d[o + i] = v;
      nz += v === 0 ? 0 : 1;
    }
    this.nonZero += nz;
    this.length += length;
    if (this.length >= ADD_FLUSH) this.flush();
  }

  /** Hands on the pending copy or add. */
  flush(): void {
    const kind = this.kind;
    if (kind === NONE) return;
    this.kind = NONE;
    if (kind === COPY || this.nonZero === 0) this.sink.copy(this.offset, this.length);
    else this.sink.add!(this.offset, this.length, this.diff.subarray(0, this.length));
  }

  private grow(extra: number): void {
    const need = this.length + extra;
    if (need <= this.diff.length) return;
    let cap = this.diff.length;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.diff.subarray(0, this.length));
    this.diff = next;
  }
}
