import { DiffIndex } from '../core/diff-index.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { DiffOptions } from '../core/diff-options.js';
import type { Hasher } from '../core/hash.js';
import { RangeSha256 } from './_range-sha256.js';
import { nodeSha256 } from './node-sha256.js';
import { readFileShared } from './read-shared.js';
import { workersForSize, type WorkerCount } from './worker-count.js';
import { WorkerPool } from './worker-pool.js';

export interface DiffIndexBuildOptions extends DiffOptions {
  /**
   * Threads filling the index: 1 (default) on this thread alone; 2 with a worker thread; 'auto' one
   * per core for a basis of 64 MiB or more, this thread alone below.
   */
  workers?: WorkerCount;
  signal?: AbortSignal;
  sha256?: () => Hasher;
  /** The basis's SHA-256 when already known (readFileShared can hash as it reads): not hashed again. */
  basisSha256?: Uint8Array;
  /**
   * Hash the basis (default true). An image delta names its basis by the old image's DiffIDs and
   * leaves the digest out: its diff skips the hash.
   */
  hashBasis?: boolean;
  /**
   * Hash the basis in consecutive ranges ending at these offsets instead (an old image's layers,
   * each checked against its DiffID): their digests come back as `rangeSha256`.
   */
  hashRanges?: readonly number[];
}

/** A basis (an old file, an old image's layers) made ready for diffing: indexed, and its SHA-256. */
export interface IndexedBasis {
  index: DiffIndex;
  /** Undefined when built with `hashBasis: false` or `hashRanges`. */
  sha256: Uint8Array | undefined;
  /** With `hashRanges`: each range's SHA-256. */
  rangeSha256?: Uint8Array[];
}

/** An index, and the worker thread that helped build it, kept open (see BasisIndexer.finishKeepingWorker). */
export interface KeptWorker {
  indexed: IndexedBasis;
  /** Undefined unless the index was built on two threads; the caller closes it. */
  worker: WorkerPool | undefined;
}

/**
 * Indexes `basis` for the two-sided diff and hashes it. With `workers` > 1 the index is filled by
 * that many threads, each its own range of buckets (the same table as one thread builds, so the
 * same deltas), while this thread also hashes the basis (`hashRanges`: the first worker thread
 * does). The threads share the basis and the table: a basis not already in a SharedArrayBuffer is
 * copied into one (read files with {@link readFileShared} to avoid the copy).
 * @example
 * const { index, sha256 } = await buildDiffIndex(await readFileShared('old.bin'), { workers: 2 });
 * await writeFileAtomic('d.rdelta', diffChunks(index, createReadStream('new.bin'), { basisSha256: sha256 }));
 */
export async function buildDiffIndex(basis: Uint8Array, opts: DiffIndexBuildOptions = {}): Promise<IndexedBasis> {
  const shared = workersForSize(opts.workers, basis.length) > 1 && !(basis.buffer instanceof SharedArrayBuffer);
  return new BasisIndexer(shared ? copyToShared(basis) : basis, opts).finish();
}

function copyToShared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

/**
 * Indexes (and hashes) a basis while it is being filled in, front to back: call `landed` each time
 * more of it is in place, then `finish`; `fail` if the filling stops. With `workers` > 1 the basis
 * must be in a SharedArrayBuffer: the worker threads index their parts of what has landed, waiting
 * on an Atomics counter of the bytes in place. The index is the same as {@link buildDiffIndex}'s.
 * @example
 * const ix = new BasisIndexer(basis, { workers: 2 });
 * for (...) { basis.set(piece, at); at += piece.length; ix.landed(at); }
 * const { index, sha256 } = await ix.finish();
 */
export class BasisIndexer {
  private readonly threads: number;
  /**
   * Where the ranges to hash end: the whole basis, unless its SHA-256 was given or is not wanted,
   * or the caller's `hashRanges`.
   */
  private readonly hashEnds: readonly number[] | undefined;
  /** Hashes them on this thread, unless the first worker thread does. */
  private readonly ranges: RangeSha256 | undefined;
  private readonly index: DiffIndex;
  /** progress[0]: bytes in place, for the workers to index up to (-1: the filling failed). */
  private readonly progress = new Int32Array(new SharedArrayBuffer(4));
  private readonly pool: WorkerPool | undefined;
  private readonly parts: Promise<unknown>[] = [];
  private indexed = 0;
  private readonly known: Uint8Array | undefined;
  private readonly wholeBasis: boolean;

  constructor(
    private readonly basis: Uint8Array,
    opts: DiffIndexBuildOptions = {},
  ) {
    this.threads = workersForSize(opts.workers, basis.length);
    this.known = opts.basisSha256;
    this.wholeBasis = !opts.hashRanges && !opts.basisSha256 && opts.hashBasis !== false;
    this.hashEnds = opts.hashRanges ?? (this.wholeBasis ? [basis.length] : undefined);
    // An image's layers are hashed on the first worker thread, which evens the threads out: this
    // one also unpacks and copies the layers in (image diff of 256 MiB: 1.73 → 1.65 s). A file
    // basis is read straight into place, and moving its hash there made the worker the slower
    // (file diff of 64 MiB: 0.63 → 0.68 s): it is hashed here, as is any caller's own hasher.
    const hashHere = this.hashEnds !== undefined && (this.threads === 1 || !opts.hashRanges || opts.sha256 !== undefined);
    this.ranges = hashHere ? new RangeSha256(basis, this.hashEnds!, opts.sha256 ?? nodeSha256) : undefined;
    const options: DiffOptions = { seedLength: opts.seedLength, stride: opts.stride, maxCandidates: opts.maxCandidates };
    if (this.threads > 1 && !(basis.buffer instanceof SharedArrayBuffer)) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'a basis indexed by worker threads while it is read must live in a SharedArrayBuffer');
    }
    this.index = DiffIndex.create(basis, options, this.threads > 1 ? 'shared' : undefined);
    if (this.threads > 1) {
      this.pool = new WorkerPool(this.threads - 1, { signal: opts.signal });
      for (let part = 1; part < this.threads; part++) {
        const hashEnds = part === 1 && this.hashEnds && !this.ranges ? [...this.hashEnds] : undefined;
        const run = this.pool.run({ kind: 'diff-index-part', basis, table: this.index.table, options, part, parts: this.threads, progress: this.progress, hashEnds });
        run.catch(() => {}); // awaited in finish(); a failure meanwhile is not unhandled
        this.parts.push(run);
      }
    }
  }

  /**
   * The basis's first `read` bytes are in place: hash (if here) and index what is new.
   */
  landed(read: number): void {
    this.ranges?.upTo(read);
    this.report(read);
    this.index.fillPart(0, this.threads, this.indexed, read);
    this.indexed = read;
  }

  /** Waits for every thread; the whole basis must have landed. */
  async finish(): Promise<IndexedBasis> {
    return (await this.complete(false)).indexed;
  }

  /**
   * `finish`, keeping the worker thread of a two-thread index open (closed otherwise) for
   * work that follows at once: a diff's target hash (WorkerSha256), without another worker's start
   * (~55 ms, ~10 MiB). The caller closes `worker`.
   */
  finishKeepingWorker(): Promise<KeptWorker> {
    return this.complete(true);
  }

  private async complete(keep: boolean): Promise<KeptWorker> {
    const worker = keep && this.pool?.size === 1 ? this.pool : undefined;
    let kept = false;
    try {
      if (this.indexed !== this.basis.length) this.landed(this.basis.length);
      this.ranges?.upTo(this.basis.length); // an empty basis has landed nothing
      const [fromWorker] = await Promise.all(this.parts);
      const digests = this.ranges?.digests ?? (fromWorker as Uint8Array[] | null) ?? undefined;
      const indexed: IndexedBasis = { index: this.index, sha256: this.known ?? (this.wholeBasis ? digests![0] : undefined) };
      if (!this.wholeBasis && this.hashEnds) indexed.rangeSha256 = digests;
      kept = worker !== undefined;
      return { indexed, worker };
    } finally {
      if (!kept) await this.pool?.close();
    }
  }

  /** The filling stopped: the worker threads give up. */
  async fail(): Promise<void> {
    this.report(-1);
    await this.pool?.close();
  }

  private report(read: number): void {
    Atomics.store(this.progress, 0, read);
    Atomics.notify(this.progress, 0);
  }
}

/**
 * Reads the file at `path` and indexes it for the two-sided diff while it is being read (each
 * thread indexes what has landed while the next piece is read), hashing it on the way. With
 * `workers` > 1 the threads share the basis and the table as {@link buildDiffIndex}'s do; the
 * index is the same in every case.
 * @example
 * const { index, sha256 } = await indexFile('old.bin', { workers: 'auto' });
 * await writeFileAtomic('d.rdelta', diffChunks(index, createReadStream('new.bin'), { basisSha256: sha256 }));
 */
export function indexFile(path: string, opts: DiffIndexBuildOptions = {}): Promise<IndexedBasis> {
  return indexFileThen(path, opts, (indexer) => indexer.finish());
}

/**
 * {@link indexFile} for a diff that follows at once (diffFile, the CLI): on two threads its worker
 * stays open to hash the target (see BasisIndexer.finishKeepingWorker); the caller closes `worker`.
 */
export function indexFileKeepingWorker(path: string, opts: DiffIndexBuildOptions = {}): Promise<KeptWorker> {
  return indexFileThen(path, opts, (indexer) => indexer.finishKeepingWorker());
}

/** Reads and indexes the file, then ends the indexer with `finish`; an error on the way fails the indexer (its threads closed). */
async function indexFileThen<T>(path: string, opts: DiffIndexBuildOptions, finish: (indexer: BasisIndexer) => Promise<T>): Promise<T> {
  let indexer: BasisIndexer | undefined;
  try {
    await readFileShared(path, {
      // Set up (its worker threads started: ~40 ms) while the first piece is read.
      onOpen: (bytes) => void (indexer = new BasisIndexer(bytes, opts)),
      onRead: (_, read) => indexer!.landed(read),
    });
    return await finish(indexer!);
  } catch (e) {
    await indexer?.fail();
    throw e;
  }
}
