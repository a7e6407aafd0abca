import type { Op, OpSink } from '../core/ops.js';

/**
 * An OpSink that queues ops for a consumer that must await between them (a file-backed basis).
 * Literals and add diffs are copied because decoders reuse their buffers, into one arena reused
 * from batch to batch: the bytes of drained ops stay valid until the next op is queued, so the
 * consumer must be done with a batch before it feeds the decoder again. Memory: what one decoder
 * push yields, bounded by the decoder's frame limit.
 */
export class OpQueue implements OpSink {
  private items: Op[] = [];
  private arena = new Uint8Array(0);
  private used = 0;

  copy(offset: number, length: number): void {
    this.items.push({ type: 'copy', offset, length });
  }

  literal(data: Uint8Array): void {
    this.items.push({ type: 'literal', data: this.hold(data) });
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    this.items.push({ type: 'add', offset, length, diff: this.hold(diff) });
  }

  /** Takes every queued op, leaving the queue empty (their bytes live until the next op is queued). */
  drain(): Op[] {
    const out = this.items;
    this.items = [];
    this.used = 0;
    return out;
  }

  /** A copy of `data` in the arena; a full arena is replaced (ops queued before keep the old one). */
  private hold(data: Uint8Array): Uint8Array {
    const n = data.length;
    if (this.used + n > this.arena.length) {
      this.arena = new Uint8Array(Math.max(n, 2 * this.arena.length, 1 << 16));
      this.used = 0;
    }
    const view = this.arena.subarray(this.used, this.used + n);
    view.set(data);
    this.used += n;
    return view;
  }
}
