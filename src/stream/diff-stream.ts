import type { Duplex } from 'node:stream';
import type { DiffIndex } from '../core/diff-index.js';
import { DiffDelta } from '../format/diff-delta.js';
import { CM_LEVEL } from '../format/native-codes.js';
import type { DiffDeltaOptions } from '../format/operations-options.js';
import type { ByteSource } from './chunks.js';
import { buildDiffIndex } from './diff-index-build.js';
import { producerChunks } from './_producer-chunks.js';
import { toDuplex } from './duplex.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import type { StreamOptions } from './progress.js';
import { resolveWorkerCount, type WorkerCount } from './worker-count.js';
import { workerFramePacker } from './worker-frame-packer.js';
import { WorkerPool } from './worker-pool.js';

export type DiffStreamOptions = DiffDeltaOptions &
  StreamOptions & {
    basisSha256?: Uint8Array;
    /**
     * Threads indexing a basis given as bytes (see {@link buildDiffIndex}) and, at level 9,
     * context-mixing frames; default 1.
     */
    workers?: WorkerCount;
  };

/**
 * Two-sided diff, streamed: the basis in memory (or a prebuilt index of it), target chunks in,
 * native delta chunks out. With `workers` > 1, a basis given as bytes is indexed by that many
 * threads, and level 9 frames are packed by as many worker threads (the same delta, sooner).
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
  const pool = threads > 1 && (opts.level ?? 6) >= CM_LEVEL ? new WorkerPool(threads, { signal: opts.signal }) : undefined;
  try {
    const packFrameAsync = pool ? workerFramePacker(pool) : undefined;
    const deltaOpts = { ...opts, sha256: opts.sha256 ?? nodeSha256, rawDeflate: opts.rawDeflate ?? nodeRawDeflate, background: true, packFrameAsync };
    yield* producerChunks((ondata) => new DiffDelta(basis, ondata, deltaOpts), source, opts);
  } finally {
    await pool?.close();
  }
}

/**
 * A Duplex: write the target in, read the two-sided delta out.
 * @example
 * await pipeline(createReadStream('new.bin'), createDiffStream(oldBytes), createWriteStream('d.rdelta'));
 */
export function createDiffStream(basis: Uint8Array | DiffIndex, opts: DiffStreamOptions = {}): Duplex {
  return toDuplex((src) => diffChunks(basis, src, opts), opts.signal);
}
