import { DiffIndex } from '../core/diff-index.js';
import type { DiffOptions } from '../core/diff-options.js';
import type { Hasher } from '../core/hash.js';
import { nodeSha256 } from './node-sha256.js';
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
