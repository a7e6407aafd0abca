import { seedBucket, seedCheck, seedHash, seedMultipliers, touchBuckets } from './_diff-hash.js';
import { lineAlignedInt32Array } from './_line-aligned.js';
import { assertBytes } from './bytes.js';
import { type DiffOptions, MAX_DIFF_BASIS, resolveDiffOptions } from './diff-options.js';
import { ErrorCode, RolldeltaError } from './errors.js';

/**
 * The basis side of the two-sided diff: the seed hash of every `stride`-th basis position in a
 * bucketed hash table. Build it once and hand it to many `DiffMatcher`s to diff many targets against
 * one basis.
 *
 * Layout: `buckets` buckets of `slots` (8, or 16 for a `maxCandidates` above 8) Int32 entries,
 * half full on average, so the table takes 8 bytes per indexed position: `8 * basis.length /
 * stride` bytes in all, half the basis at the default stride. The bucket count is not rounded to a
 * power of two, which made the table anywhere from 8 to 16 bytes a position (a 1.02 GiB image's
 * index took 1 GiB instead of 0.52). Eight slots of which four are used on average lose 0.5% of the
 * entries to full buckets where four of which two are used lost 4%; a bucket still fits one cache
 * line, and the table starts where none straddles two (_line-aligned.ts). An entry packs
 * `position / stride` in its low `posBits` bits and check bits of the seed hash above them, so most
 * colliding candidates are rejected without touching the basis. A full bucket keeps its first
 * entries: a basis of one repeated byte fills a single bucket, which bounds candidate walks.
 * @example
 * const index = DiffIndex.build(basis);
 * for (const t of targets) diffOps(index, t, sink);
 */
export class DiffIndex {
  readonly basis: Uint8Array;
  /** DataView over `basis` for four-byte comparisons. */
  readonly view: DataView;
  readonly seedLength: number;
  readonly stride: number;
  /** Entries per bucket (a power of two). */
  readonly slots: number;
  /** Number of buckets (any count from 16; `seedBucket` maps a seed hash to one). */
  readonly buckets: number;
  readonly posBits: number;
  readonly checkBits: number;
  /** `buckets * slots` entries; -1 marks an empty slot. */
  readonly table: Int32Array;

  private constructor(basis: Uint8Array, seedLength: number, stride: number, slots: number, table?: Int32Array | 'shared') {
    this.basis = basis;
    this.view = new DataView(basis.buffer, basis.byteOffset, basis.byteLength);
    this.seedLength = seedLength;
    this.stride = stride;
    this.slots = slots;
    const entries = basis.length >= seedLength ? Math.floor((basis.length - seedLength) / stride) + 1 : 0;
    // Buckets half full on average.
    this.buckets = Math.min(MAX_BUCKETS, Math.max(16, Math.ceil(entries / (slots >>> 1))));
    let posBits = 1;
    while (posBits < 31 && 2 ** posBits <= entries) posBits++;
    this.posBits = posBits;
    this.checkBits = 31 - posBits;
    const length = this.buckets * slots;
    if (table instanceof Int32Array) {
      if (table.length !== length) {
        throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a diff index table for this basis and these options holds ${length} entries, got ${table.length}`);
      }
      this.table = table;
    } else {
      this.table = lineAlignedInt32Array(length, table === 'shared').fill(-1);
    }
  }

  /**
   * Indexes `basis` (kept by reference: do not modify it while the index is in use). Options are
   * validated as for `DiffMatcher`; `minMatch` does not affect the index.
   * @example
   * const index = DiffIndex.build(basis, { seedLength: 24, stride: 32 });
   */
  static build(basis: Uint8Array, opts: DiffOptions = {}): DiffIndex {
    const index = DiffIndex.create(basis, opts);
    index.fillPart(0, 1);
    return index;
  }

  /**
   * An index whose table is still empty, for threads to fill with `fillPart`: `table` is
   * 'shared' (allocated in a SharedArrayBuffer, for worker threads to fill too), or the table of an
   * index created elsewhere over the same basis and options (a worker's view of a shared one).
   * @example
   * const index = DiffIndex.create(sharedBasis, {}, 'shared');
   * // worker: DiffIndex.create(sharedBasis, {}, index.table).fillPart(1, 2)
   * index.fillPart(0, 2);
   */
  static create(basis: Uint8Array, opts: DiffOptions = {}, table?: Int32Array | 'shared'): DiffIndex {
    assertBytes(basis, 'basis');
    if (basis.length > MAX_DIFF_BASIS) {
      throw new RolldeltaError(
        ErrorCode.LIMIT,
        `the diff indexes a basis of at most ${MAX_DIFF_BASIS} bytes, got ${basis.length}; use the rsync (signature) mode for larger files`,
      );
    }
    const o = resolveDiffOptions(basis.length, opts);
    return new DiffIndex(basis, o.seedLength, o.stride, o.maxCandidates > 8 ? 16 : 8, table);
  }

  /** Bytes the table occupies. */
  get byteLength(): number {
    return this.table.byteLength;
  }

  /**
   * Inserts the basis positions whose buckets fall in the `part`-th of `parts` equal ranges. Each
   * bucket belongs to one part and takes its positions in basis order, so any number of threads
   * filling one part each build the same table as one thread filling it all. Worth it because the
   * fill waits on memory (a cache miss per insert into a table far larger than the caches): two
   * threads filled a 256 MiB basis's index 1.2-1.5x faster than one, measured.
   * `from` and `upTo` limit the fill to the seeds that end in basis bytes (from, upTo]: calls that
   * go on where the last one stopped (from = its upTo) index a basis while it is still being read.
   */
  fillPart(part: number, parts: number, from = 0, upTo = this.basis.length): void {
    if (!Number.isInteger(parts) || parts < 1 || !Number.isInteger(part) || part < 0 || part >= parts) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `fillPart takes a part 0..parts-1 of a whole number of parts, got ${part} of ${parts}`);
    }
    if (!Number.isInteger(from) || !Number.isInteger(upTo) || from < 0 || from > upTo || upTo > this.basis.length) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `fillPart's byte range must satisfy 0 <= from <= upTo <= ${this.basis.length}, got ${from}..${upTo}`);
    }
    const { basis, seedLength: L, stride: S, slots, table, posBits, checkBits } = this;
    const n = basis.length;
    if (n < L) return;
    const buckets = this.buckets;
    const lo = Math.floor((buckets * part) / parts);
    const hi = Math.floor((buckets * (part + 1)) / parts);
    // Indexed positions are the multiples of the stride whose seed ends in (from, upTo].
    const last = upTo - L;
    const first = Math.max(0, Math.ceil((from - L + 1) / S) * S);
    // Entries go in batches: hash a batch, touch its buckets (independent loads the CPU overlaps),
    // then insert into what is now in cache. Measured about 3x faster than inserting as we hash.
    const bucket = new Int32Array(BATCH);
    const entry = new Int32Array(BATCH);
    const mul = seedMultipliers(L);
    const view = this.view;
    let touched = 0;
    let at = first / S; // p / S, counted along rather than divided
    for (let p = first; p <= last; ) {
      let k = 0;
      for (; k < BATCH && p <= last; p += S, at++) {
        const h = seedHash(view, p, mul);
        const b = seedBucket(h, buckets);
        // Written every time, kept when b is in [lo, hi) (the signs of b - lo and b - hi differ):
        // half the seeds of a two-thread fill fall out at random, which a branch mispredicted.
        bucket[k] = b * slots;
        entry[k] = (seedCheck(h, checkBits) << posBits) | at;
        k += ((b - lo) ^ (b - hi)) >>> 31;
      }
      touched ^= touchBuckets(table, bucket, k);
      for (let j = 0; j < k; j++) {
        const b = bucket[j];
        for (let s = 0; s < slots; s++) {
          if (table[b + s] === -1) {
            table[b + s] = entry[j];
            break;
          }
        }
      }
    }
    touchSink ^= touched;
  }
}

/** Most buckets a table has: as many as a 2 GiB basis indexed at every byte (stride 1) fills half. */
const MAX_BUCKETS = 2 ** 29;
/** Entries hashed and touched per batch. */
const BATCH = 256;
/** Keeps the touch loop from being optimised away. */
let touchSink = 0;
