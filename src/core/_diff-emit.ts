import type { OpSink } from './ops.js';

/**
 * An exact copy at most this long that touches an ADD at the same displacement is folded into it as
 * zero diff bytes: deflate spends a few bits on such a run, while a separate copy costs an op and
 * splits the add. Longer copies stay copies: deflate needs a symbol per 258 zeros, and on a tar
 * whose every header changed, 1024 gave a 2.8x larger delta than 256 (64: 1% larger on binaries).
 */
const FOLD_MAX = 256;
/**
 * A literal at most this long between two ops at the same displacement becomes diff bytes of one
 * add: a tar header's changed mtime or checksum digits otherwise cost three ops. Measured on the
 * size corpus: 3-6% smaller deltas on upgraded Debian packages with deflate and with context mixing.
 */
const LIT_FOLD = 8;
/** A pending ADD is handed on once it reaches this length: bounds the diff buffer. */
const ADD_FLUSH = 1 << 20;

const NONE = 0;
const COPY = 1;
const ADD = 2;

/**
 * Output stage of the two-sided diff: merges copies that continue each other, builds ADD ops
 * (diff = target - basis, mod 256) for approximate regions, folds short exact copies and short
 * literals into adjacent adds at the same displacement, and sends an add whose diff is all zero
 * as a copy.
 * The sink must have `add` when {@link DiffEmitter.add} is used.
 * @example
 * const e = new DiffEmitter(basis, sink, true);
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
  /** A short literal after the pending op, kept until the next op shows whether it can fold. */
  private held: Uint8Array | undefined = undefined;

  /** Whether short literals may fold into adds (the sink has `add` and approximation is on). */
  private readonly foldLiterals: boolean;

  constructor(basis: Uint8Array, sink: OpSink, foldLiterals = false) {
    this.basis = basis;
    this.sink = sink;
    this.foldLiterals = foldLiterals;
  }

  /** Emits literal bytes (after whatever is pending). */
  literal(data: Uint8Array): void {
    if (this.foldLiterals && this.kind !== NONE && this.held === undefined && data.length <= LIT_FOLD) {
      this.held = new Uint8Array(data); // a copy even when data is a Buffer view
      return;
    }
    this.flush();
    this.sink.literal(data);
  }

  /** A held short literal followed by an op at the same displacement becomes part of an add. */
  private foldHeld(offset: number): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    // Fold only where add() would have joined: after an add, or a copy short enough to fold.
    if (this.offset + this.length + held.length !== offset || (this.kind === COPY && this.length > FOLD_MAX)) {
      this.flush();
      this.sink.literal(held);
      return;
    }
    if (this.kind === COPY) {
      this.grow(0);
      this.diff.fill(0, 0, this.length);
      this.kind = ADD;
      this.nonZero = 0;
    }
    this.add(this.offset + this.length, held.length, held, 0);
  }

  /** Queues `length` bytes copied from basis `offset`. */
  copy(offset: number, length: number): void {
    this.foldHeld(offset);
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
    this.foldHeld(offset);
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
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      this.sink.literal(held);
    }
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
