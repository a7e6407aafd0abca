import type { Duplex } from 'node:stream';
import type { DiffIndex } from '../core/diff-index.js';
import { DiffDelta } from '../format/diff-delta.js';
import { CM_LEVEL } from '../format/native-codes.js';
import type { DiffDeltaOptions } from '../format/operations-options.js';
import type { ByteSource } from './chunks.js';
import { buildDiffIndex, indexFileKeepingWorker } from './diff-index-build.js';
import { producerChunks } from './_producer-chunks.js';
import { toDuplex } from './duplex.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import type { StreamOptions } from './progress.js';
import { resolveWorkerCount, type WorkerCount } from './worker-count.js';
import { WorkerFramePacker } from './worker-frame-packer.js';
import { WorkerPool } from './worker-pool.js';
import { WorkerSha256 } from './worker-sha256.js';

export type DiffStreamOptions = DiffDeltaOptions &
  StreamOptions & {
    basisSha256?: Uint8Array;
    /**
     * Threads indexing a basis given as bytes (see {@link buildDiffIndex}: 'auto' indexes one under
     * 64 MiB on this thread) and, at level 9, context-mixing frames (see WorkerFramePacker: started
     * at the first frame worth it); default 1. With more than one and a `size` of at least 128 MiB,
     * a worker thread also hashes the target for the trailer while this one matches.
     */
    workers?: WorkerCount;
    /** With `workers` > 1, at level 9: see WorkerFramePackerOptions.keepEventLoopFree. */
    keepEventLoopFree?: boolean;
  };

/**
 * Two-sided diff, streamed: the basis in memory (or a prebuilt index of it), target chunks in,
 * native delta chunks out. With `workers` > 1, a basis given as bytes is indexed by that many
 * threads, level 9 frames are packed by as many worker threads, and one more hashes a large
 * target (the same delta, sooner).
 * @example
 * for await (const c of diffChunks(oldBytes, createReadStream('new.bin'))) out.write(c);
 */
export async function* diffChunks(
  basis: Uint8Array | DiffIndex,
  source: ByteSource,
  opts: DiffStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  const threads = resolveWorkerCount(opts.workers);
  if (basis instanceof Uint8Array && threads > 1) {
    const { index, sha256 } = await buildDiffIndex(basis, opts);
    basis = index;
    opts = { ...opts, basisSha256: sha256 };
  }
  // Level 9 frames are context-mixed by the workers, several at once; the main thread only matches.
  const packer = threads > 1 && (opts.level ?? 6) >= CM_LEVEL ? new WorkerFramePacker(threads, { signal: opts.signal, keepEventLoopFree: opts.keepEventLoopFree }) : undefined;
  const hashAway = threads > 1 && !opts.backgroundSha256 && (opts.size ?? 0) >= HASH_AWAY_FROM;
  const hashPool = hashAway ? new WorkerPool(1, { signal: opts.signal }) : undefined;
  try {
    const packFrameAsync = packer?.pack;
    const backgroundSha256 = opts.backgroundSha256 ?? (hashPool ? () => new WorkerSha256(hashPool) : undefined);
    const deltaOpts = { ...opts, sha256: opts.sha256 ?? nodeSha256, rawDeflate: opts.rawDeflate ?? nodeRawDeflate, background: true, packFrameAsync, backgroundSha256 };
    yield* producerChunks((ondata) => new DiffDelta(basis, ondata, deltaOpts), source, opts);
  } finally {
    await Promise.all([packer?.close(), hashPool?.close()]);
  }
}

/**
 * {@link diffChunks} against the file at `basisPath`, indexed while it is read (on `workers`
 * threads) and hashed on the way; on two threads the index's worker then hashes the target
 * instead of another one starting (see indexFileKeepingWorker). The CLI's diff and diffFile.
 * @example
 * await writeFileAtomic('d.rdelta', diffChunksAgainstFile('old.bin', createReadStream('new.bin'), { workers: 2 }));
 */
export async function* diffChunksAgainstFile(basisPath: string, source: ByteSource, opts: DiffStreamOptions = {}): AsyncGenerator<Uint8Array> {
  const { indexed, worker } = await indexFileKeepingWorker(basisPath, opts);
  try {
    const backgroundSha256 = opts.backgroundSha256 ?? (worker ? () => new WorkerSha256(worker) : undefined);
    yield* diffChunks(indexed.index, source, { ...opts, basisSha256: opts.basisSha256 ?? indexed.sha256, backgroundSha256 });
  } finally {
    await worker?.close();
  }
}

/**
 * Target size from which a worker thread hashes it: its start (~40 ms of a core, ~20 MiB) pays
 * back above ~100 MiB of SHA-256 at ~1.4 GB/s. Measured (medians of 8-12 alternating runs):
 * 256 MiB diff 1.80 → 1.70 s, 64 MiB 0.57 → 0.59 s.
 */
const HASH_AWAY_FROM = 128 << 20;

/**
 * A Duplex: write the target in, read the two-sided delta out.
 * @example
 * await pipeline(createReadStream('new.bin'), createDiffStream(oldBytes), createWriteStream('d.rdelta'));
 */
export function createDiffStream(basis: Uint8Array | DiffIndex, opts: DiffStreamOptions = {}): Duplex {
  return toDuplex((src) => diffChunks(basis, src, opts), opts.signal);
}
