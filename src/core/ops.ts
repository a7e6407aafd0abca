/**
 * The delta op model shared by every producer (rsync-mode matcher, two-sided diff, decoders) and
 * every consumer (patch, encoders). A delta is a sequence of ops that, applied in order, writes the
 * target: COPY takes `length` bytes of the basis at `offset`; LITERAL writes its own bytes; ADD
 * (bsdiff's approximate copy) writes `(basis[offset + i] + diff[i]) & 0xff` for i < length, which
 * sends a recompiled region whose bytes mostly agree as a mostly-zero, well-compressing diff.
 */
import { copyBytes } from './bytes.js';

export interface OpSink {
  /** Emit `length` (> 0) bytes copied from basis position `offset` (>= 0). */
  copy(offset: number, length: number): void;
  /**
   * Emit literal bytes (length > 0). The view is only valid during the call: a sink that keeps the
   * bytes must copy them.
   */
  literal(data: Uint8Array): void;
  /**
   * Optional: emit `length` (> 0) bytes `(basis[offset + i] + diff[i]) & 0xff`; `diff.length` equals
   * `length` and is only valid during the call. Producers emit ADD only to sinks that define it.
   */
  add?(offset: number, length: number, diff: Uint8Array): void;
}

export type Op =
  | { readonly type: 'copy'; readonly offset: number; readonly length: number }
  | { readonly type: 'literal'; readonly data: Uint8Array }
  | { readonly type: 'add'; readonly offset: number; readonly length: number; readonly diff: Uint8Array };

/**
 * Collects ops into an array, merging a copy or add that continues the previous one, and adjacent literals.
 * Meant for tests and small inputs; streaming paths feed encoders directly.
 */
export class OpCollector implements OpSink {
  readonly ops: Op[] = [];
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  private lastCopyOffset = -1;
  private lastCopyLength = 0;

  copy(offset: number, length: number): void {
    if (length <= 0) return;
    this.flushLiteral();
    if (this.lastCopyOffset >= 0 && this.lastCopyOffset + this.lastCopyLength === offset) {
      this.lastCopyLength += length;
      this.ops[this.ops.length - 1] = { type: 'copy', offset: this.lastCopyOffset, length: this.lastCopyLength };
      return;
    }
    this.lastCopyOffset = offset;
    this.lastCopyLength = length;
    this.ops.push({ type: 'copy', offset, length });
  }

  literal(data: Uint8Array): void {
    if (data.length === 0) return;
    this.lastCopyOffset = -1;
    this.pending.push(copyBytes(data));
    this.pendingLength += data.length;
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    if (length <= 0) return;
    this.flushLiteral();
    this.lastCopyOffset = -1;
    const last = this.ops[this.ops.length - 1];
    if (last !== undefined && last.type === 'add' && last.offset + last.length === offset) {
      // An add continuing the previous one (an encoder cut it at a frame boundary) is merged back.
      const merged = new Uint8Array(last.length + length);
      merged.set(last.diff);
      merged.set(diff.subarray(0, length), last.length);
      this.ops[this.ops.length - 1] = { type: 'add', offset: last.offset, length: last.length + length, diff: merged };
      return;
    }
    this.ops.push({ type: 'add', offset, length, diff: copyBytes(diff.subarray(0, length)) });
  }

  /** Returns the ops collected so far (flushes a pending literal). */
  finish(): Op[] {
    this.flushLiteral();
    return this.ops;
  }

  private flushLiteral(): void {
    if (this.pendingLength === 0) return;
    const data = new Uint8Array(this.pendingLength);
    let o = 0;
    for (const p of this.pending) {
      data.set(p, o);
      o += p.length;
    }
    this.pending = [];
    this.pendingLength = 0;
    this.ops.push({ type: 'literal', data });
  }
}

/** Total number of target bytes the ops write. */
export function opsTargetLength(ops: readonly Op[]): number {
  let n = 0;
  for (const op of ops) n += op.type === 'literal' ? op.data.length : op.length;
  return n;
}
