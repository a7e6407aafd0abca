import { DiffIndex } from '../core/diff-index.js';
import type { DiffOptions } from '../core/diff-options.js';
import type { Hasher } from '../core/hash.js';
import { nodeSha256 } from './node-sha256.js';
import { readFileShared } from './read-shared.js';
import { resolveWorkerCount, type WorkerCount } from './worker-count.js';
import { WorkerPool } from './worker-pool.js';

export interface DiffIndexBuildOptions extends DiffOptions {
  /** Threads filling the index: 1 (default) on this thread alone; 2 or 'auto' with worker threads. */
  workers?: WorkerCount;
  signal?: AbortSignal;
  sha256?: () => Hasher;
  /** The basis's SHA-256 when already known (readFileShared can hash as it reads): not hashed again. */
  basisSha256?: Uint8Array;
}

/** A basis (an old file, an old image's layers) made ready for diffing: indexed, and its SHA-256. */
export interface IndexedBasis {
  index: DiffIndex;
  sha256: Uint8Array;
}

/**
 * Indexes `basis` for the two-sided diff and hashes it. With `workers` > 1 the index is filled by
 * that many threads, each its own range of buckets (the same table as one thread builds, so the
 * same deltas), while this thread also hashes the basis. The threads share the basis and the
 * table: a basis not already in a SharedArrayBuffer is copied into one (read files with
 * {@link readFileShared} to avoid the copy).
 * @example
 * const { index, sha256 } = await buildDiffIndex(await readFileShared('old.bin'), { workers: 2 });
 * await writeFileAtomic('d.rdelta', diffChunks(index, createReadStream('new.bin'), { basisSha256: sha256 }));
 */
export async function buildDiffIndex(basis: Uint8Array, opts: DiffIndexBuildOptions = {}): Promise<IndexedBasis> {
  const threads = resolveWorkerCount(opts.workers);
  const sha = opts.sha256 ?? nodeSha256;
  if (threads === 1) {
    const index = DiffIndex.build(basis, opts);
    return { index, sha256: opts.basisSha256 ?? sha().update(basis).digest() };
  }
  const shared = basis.buffer instanceof SharedArrayBuffer ? basis : copyToShared(basis);
  const options: DiffOptions = { seedLength: opts.seedLength, stride: opts.stride, maxCandidates: opts.maxCandidates };
  const index = DiffIndex.create(shared, options, 'shared');
  const pool = new WorkerPool(threads - 1, { signal: opts.signal });
  try {
    const parts: Promise<unknown>[] = [];
    for (let part = 1; part < threads; part++) {
      const run = pool.run({ kind: 'diff-index-part', basis: shared, table: index.table, options, part, parts: threads });
      // Awaited below; until then a failure must not count as unhandled (fillPart may throw first).
      run.catch(() => {});
      parts.push(run);
    }
    // The workers take a few tens of milliseconds to start: hashing first evens the parts out.
    const sha256 = opts.basisSha256 ?? sha().update(shared).digest();
    index.fillPart(0, threads);
    await Promise.all(parts);
    return { index, sha256 };
  } finally {
    await pool.close();
  }
}

function copyToShared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
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
export async function indexFile(path: string, opts: DiffIndexBuildOptions = {}): Promise<IndexedBasis> {
  const threads = resolveWorkerCount(opts.workers);
  const hasher = (opts.sha256 ?? nodeSha256)();
  const options: DiffOptions = { seedLength: opts.seedLength, stride: opts.stride, maxCandidates: opts.maxCandidates };
  // progress[0]: basis bytes read so far, for the workers to index up to (-1: the read failed).
  const progress = new Int32Array(new SharedArrayBuffer(4));
  const report = (read: number) => {
    Atomics.store(progress, 0, read);
    Atomics.notify(progress, 0);
  };
  let index: DiffIndex | undefined;
  let indexed = 0;
  let pool: WorkerPool | undefined;
  const parts: Promise<unknown>[] = [];
  const start = (bytes: Uint8Array): DiffIndex => {
    const created = DiffIndex.create(bytes, options, threads > 1 ? 'shared' : undefined);
    if (threads > 1) {
      pool = new WorkerPool(threads - 1, { signal: opts.signal });
      for (let part = 1; part < threads; part++) {
        const run = pool.run({ kind: 'diff-index-part', basis: bytes, table: created.table, options, part, parts: threads, progress });
        run.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
        parts.push(run);
      }
    }
    return created;
  };
  try {
    const basis = await readFileShared(path, {
      hasher,
      onRead: (bytes, read) => {
        index ??= start(bytes);
        report(read);
        index.fillPart(0, threads, indexed, read);
        indexed = read;
      },
    });
    index ??= start(basis); // an empty file: nothing was read
    report(basis.length);
    index.fillPart(0, threads, indexed, basis.length);
    await Promise.all(parts);
    return { index, sha256: hasher.digest() };
  } catch (e) {
    report(-1);
    throw e;
  } finally {
    await pool?.close();
  }
}
