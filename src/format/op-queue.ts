import type { Op, OpSink } from '../core/ops.js';

/**
 * An OpSink that queues ops for a consumer that must await between them (a file-backed basis).
 * Literals and add diffs are copied because decoders reuse their buffers. Memory: what one decoder push yields,
 * bounded by the decoder's frame limit.
 */
export class OpQueue implements OpSink {
  private items: Op[] = [];

  copy(offset: number, length: number): void {
    this.items.push({ type: 'copy', offset, length });
  }

  literal(data: Uint8Array): void {
    this.items.push({ type: 'literal', data: new Uint8Array(data) }); // a copy even of a Buffer view
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    this.items.push({ type: 'add', offset, length, diff: new Uint8Array(diff) });
  }

  /** Takes every queued op, leaving the queue empty. */
  drain(): Op[] {
    const out = this.items;
    this.items = [];
    return out;
  }
}
