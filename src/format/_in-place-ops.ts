import { planInPlace } from '../core/in-place-plan.js';
import type { OpSink } from '../core/ops.js';

const COPY = 1;
/** What `inPlace` lets the device save aside by default: a shuffled tar needs ~24 KB. */
export const DEFAULT_STASH = 256 << 10;
const ADD = 2;

/**
 * Holds a diff's ops until the end and plans them as the patching device will (see
 * core/in-place-plan.ts). When breaking the copy cycles needs more bytes saved aside than the
 * device's budget, every piece that closes a cycle is sent as a literal of the same bytes
 * instead, and the device saves nothing. Literal and diff bytes are copied in
 * (with the Uint8Array constructor: on a Buffer, slice() would return a view).
 * @example
 * const ops = new InPlaceOps(); matcher = new DiffMatcher(basis, ops); ...; ops.replay(basis, encoder);
 */
export class InPlaceOps implements OpSink {
  private kinds: number[] = [];
  private offsets: number[] = [];
  private lengths: number[] = [];
  private data: (Uint8Array | undefined)[] = [];
  /** Bytes turned into literals by the last replay. */
  literalBytes = 0;
  /** Bytes the device will save aside to break cycles (when within the budget). */
  stashBytes = 0;

  /** `stashBudget`: bytes the patching device may save aside; beyond it, cycles become literals. */
  constructor(private readonly stashBudget = DEFAULT_STASH) {}

  copy(offset: number, length: number): void {
    this.push(COPY, offset, length, undefined);
  }

  literal(data: Uint8Array): void {
    this.push(0, 0, data.length, new Uint8Array(data));
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    this.push(ADD, offset, length, new Uint8Array(diff));
  }

  private push(kind: number, offset: number, length: number, data: Uint8Array | undefined): void {
    this.kinds.push(kind);
    this.offsets.push(offset);
    this.lengths.push(length);
    this.data.push(data);
  }

  /** Sends the ops to `sink` in order, cycle-closing copies and adds as literals. */
  replay(basis: Uint8Array, sink: OpSink): void {
    const n = this.kinds.length;
    let copies = 0;
    for (let i = 0; i < n; i++) if (this.kinds[i] !== 0) copies++;
    const targetOffset = new Float64Array(copies);
    const sourceOffset = new Float64Array(copies);
    const length = new Float64Array(copies);
    let c = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      if (this.kinds[i] !== 0) {
        targetOffset[c] = at;
        sourceOffset[c] = this.offsets[i]!;
        length[c] = this.lengths[i]!;
        c++;
      }
      at += this.lengths[i]!;
    }
    const plan = planInPlace({ targetOffset, sourceOffset, length, count: copies });
    const { pieces, copyOf } = plan;
    const broken = new Uint8Array(pieces.count);
    // Within the budget the device breaks the cycles itself (the same plan, from the same ops).
    const literal = plan.brokenBytes > this.stashBudget;
    if (literal) for (const k of plan.broken) broken[k] = 1;
    this.stashBytes = literal ? 0 : plan.brokenBytes;
    this.literalBytes = 0;
    c = 0;
    let p = 0;
    for (let i = 0; i < n; i++) {
      const kind = this.kinds[i]!;
      if (kind === 0) {
        sink.literal(this.data[i]!);
        continue;
      }
      // The op's pieces, in target order: cycle-closing ones as literals, the rest as they were
      // (the encoder merges copies that continue each other again).
      const start = this.offsets[i]!;
      // Runs of pieces that are not broken go out as one op again.
      let runStart = -1;
      let runEnd = 0;
      const flushRun = () => {
        if (runStart < 0) return;
        if (kind === COPY) sink.copy(runStart, runEnd - runStart);
        else sink.add!(runStart, runEnd - runStart, this.data[i]!.subarray(runStart - start, runEnd - start));
        runStart = -1;
      };
      for (; p < pieces.count && copyOf[p] === c; p++) {
        const off = pieces.sourceOffset[p]!;
        const len = pieces.length[p]!;
        if (broken[p] !== 1) {
          if (runStart < 0) runStart = off;
          runEnd = off + len;
          continue;
        }
        flushRun();
        // A copy, never a view: the basis may be a Buffer, whose slice() shares memory.
        const bytes = new Uint8Array(basis.subarray(off, off + len));
        if (kind === ADD) {
          const d = this.data[i]!;
          const rel = off - start;
          for (let k = 0; k < len; k++) bytes[k] = (bytes[k]! + d[rel + k]!) & 0xff;
        }
        sink.literal(bytes);
        this.literalBytes += len;
      }
      flushRun();
      c++;
    }
  }
}
