import type { RandomAccessBasis } from '../core/basis.js';
import type { Op } from '../core/ops.js';
import { addDifferences } from '../core/add-differences.js';
import { checkAddRange, checkCopyRange } from '../core/patcher.js';
import type { ChunkRing } from './chunk-ring.js';

/** Bytes per output chunk: one basis read per contiguous run in it. */
export const STAGE_BYTES = 1 << 20;
/**
 * Basis reads of a chunk in flight at once. All of them at once, a chunk of a new package's layer
 * (2,900 short copies between literals) held as many promises and libuv requests: ~30 MiB of
 * peak RSS (the bench image's libssl3 layer at level 6: 87 MiB).
 */
const READS_IN_FLIGHT = 32;

/**
 * Assembles patch output in 1 MiB chunks: literal bytes (and ADD diffs, in a buffer aside) are
 * copied in as ops arrive, so an op's bytes need only live until push() returns; COPY and ADD
 * ranges are recorded (adjacent ones merged) and read straight into the chunk when it is full, up
 * to 32 of a chunk's reads in flight at once. One await per chunk instead of one per op: on a file
 * basis the thread pool's round trip (about 0.3 ms) used to cost more than the reads themselves,
 * with thousands of ops per 256 MiB.
 *
 * A full chunk is handed out only once the next one is full too (or the ops end), so its reads
 * are in flight while the consumer hashes and writes the one before: reading the basis overlaps
 * the rest instead of taking turns with it (on slow storage a 1 MiB read is milliseconds).
 *
 * With a `ring` of n >= 3 buffers, chunks cycle through them, so patching allocates nothing per
 * chunk and garbage buffers do not pile up until the next GC (peak RSS); the consumer must be done
 * with a chunk before it asks for the (n-1)th one after it (writeFileAtomic, with three, is: it
 * waits for each write before the next): while it holds the n-2 chunks before the one it asks
 * for, that one is being read and the next filled, n in all. A {@link ChunkRing} of 1 MiB buffers
 * is a ring of its `count`, shared with streams that went out before. With 0 every chunk is a
 * fresh buffer the consumer may keep.
 * @example
 * const s = new OutputStager(basis, 0);
 * for (const op of ops) if (!s.add(op)) yield* s.push(op);
 * yield* s.finish();
 */
export class OutputStager {
  private readonly buffers: Uint8Array[] = [];
  private turn = 0;
  private stage: Uint8Array;
  private fill = 0;
  /** Basis reads of the current stage: [stage offset, basis position, length] triples. */
  private reads: number[] = [];
  /** ADD ranges of the current stage, applied after its reads: [stage offset, length, diffs offset] triples. */
  private adds: number[] = [];
  /**
   * Their diff bytes one after another (copied: the op's bytes are lent), in a buffer that grows
   * to what a stage's adds need: tar headers' few bytes a file need KiBs, where a buffer laid out
   * like the stage took up to 1 MiB for each of the two. Each add's bytes start at its stage
   * offset's place in a 32-bit word, so addDifferences() goes a word at a time (up to 3 bytes of
   * padding per add of 16 bytes or more: at most ~1.2 MiB).
   */
  private diffs = new Uint8Array(0);
  private diffBytes = 0;
  /** The other stage's diff bytes: one stage fills while the one before it is being read. */
  private spareDiffs = new Uint8Array(0);
  /** The full stage whose reads are in flight, handed out when the next one is full. */
  private reading: Promise<Uint8Array> | undefined;

  constructor(
    private readonly basis: RandomAccessBasis,
    private readonly ring: number | ChunkRing,
  ) {
    this.stage = this.nextBuffer();
  }

  /**
   * Adds an op that leaves the chunk short of full, and says true; false (nothing added) for one
   * that would complete it, which goes to push(). Most ops are small: this path spares each one
   * an async generator and its promises.
   */
  add(op: Op): boolean {
    const n = op.type === 'literal' ? op.data.length : op.length;
    if (this.fill + n >= STAGE_BYTES) return false;
    this.check(op);
    this.place(op, 0, n);
    return true;
  }

  /** Adds one op; yields every chunk it completes. */
  async *push(op: Op): AsyncGenerator<Uint8Array> {
    this.check(op);
    const total = op.type === 'literal' ? op.data.length : op.length;
    for (let done = 0; done < total; ) {
      const n = Math.min(total - done, STAGE_BYTES - this.fill);
      this.place(op, done, n);
      done += n;
      if (this.fill === STAGE_BYTES) {
        const previous = this.startReads();
        if (previous) yield await previous;
      }
    }
  }

  /** Yields what is left: the stage being read and the last, partial one (if any). */
  async *finish(): AsyncGenerator<Uint8Array> {
    const previous = this.fill > 0 ? this.startReads() : undefined;
    if (previous) yield await previous;
    const last = this.reading;
    this.reading = undefined;
    if (last) yield await last;
  }

  private check(op: Op): void {
    if (op.type === 'add') checkAddRange(op.offset, op.length, op.diff, this.basis.length);
    else if (op.type === 'copy') checkCopyRange(op.offset, op.length, this.basis.length);
  }

  /** Puts bytes [done, done + n) of an op at the stage's fill point (n fits). */
  private place(op: Op, done: number, n: number): void {
    if (op.type === 'literal') {
      this.stage.set(op.data.subarray(done, done + n), this.fill);
    } else {
      this.read(op.offset + done, n);
      if (op.type === 'add') {
        const at = n < 16 ? this.diffBytes : this.diffBytes + ((this.fill - this.diffBytes) & 3);
        if (at + n > this.diffs.length) this.growDiffs(at + n);
        this.diffs.set(op.diff.subarray(done, done + n), at);
        this.diffBytes = at + n;
        this.adds.push(this.fill, n, at);
      }
    }
    this.fill += n;
  }

  /** Records a basis read for the current stage, extending the previous one when contiguous. */
  private read(position: number, length: number): void {
    const r = this.reads;
    const k = r.length - 3;
    if (k >= 0 && r[k] + r[k + 2] === this.fill && r[k + 1] + r[k + 2] === position) r[k + 2] += length;
    else r.push(this.fill, position, length);
  }

  /**
   * Starts the current stage's reads and moves on to a fresh stage; returns the stage that was
   * being read before (to hand out now), if any.
   */
  private startReads(): Promise<Uint8Array> | undefined {
    const previous = this.reading;
    const stage = this.fill === STAGE_BYTES ? this.stage : this.stage.subarray(0, this.fill);
    this.reading = this.complete(stage, this.reads, this.adds, this.diffs);
    this.reading.catch(() => {}); // awaited when handed out; a failure meanwhile is not unhandled
    this.reads = [];
    this.adds = [];
    [this.diffs, this.spareDiffs] = [this.spareDiffs, this.diffs];
    this.diffBytes = 0;
    this.fill = 0;
    this.stage = this.nextBuffer();
    return previous;
  }

  /** Performs a stage's reads and applies its adds. */
  private async complete(stage: Uint8Array, r: number[], adds: number[], d: Uint8Array): Promise<Uint8Array> {
    const basis = this.basis;
    if (basis.readInto) {
      const readInto = basis.readInto.bind(basis);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < r.length) {
          const k = next;
          next += 3;
          const p = readInto(stage, r[k], r[k + 1], r[k + 2]);
          if (p) await p;
        }
      };
      await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, r.length / 3) }, lane));
    } else {
      for (let k = 0; k < r.length; k += 3) stage.set(await basis.read(r[k + 1], r[k + 2]), r[k]);
    }
    if (adds.length > 0) {
      const s32 = (stage.byteOffset & 3) === 0 ? new Uint32Array(stage.buffer, stage.byteOffset, stage.length >>> 2) : undefined;
      const d32 = new Uint32Array(d.buffer, d.byteOffset, d.length >>> 2);
      for (let j = 0; j < adds.length; j += 3) addDifferences(stage, s32, adds[j], d, d32, adds[j + 2], adds[j + 1]);
    }
    return stage;
  }

  /** Makes room for `need` diff bytes, keeping those gathered so far (a whole number of words). */
  private growDiffs(need: number): void {
    const next = new Uint8Array((Math.max(need, Math.min(STAGE_BYTES, Math.max(2 * this.diffs.length, 64 << 10))) + 3) & ~3);
    next.set(this.diffs.subarray(0, this.diffBytes));
    this.diffs = next;
  }

  private nextBuffer(): Uint8Array {
    if (typeof this.ring === 'object') return this.ring.take();
    if (this.ring === 0) return new Uint8Array(STAGE_BYTES);
    const i = this.turn++ % this.ring;
    return (this.buffers[i] ??= new Uint8Array(STAGE_BYTES));
  }
}
