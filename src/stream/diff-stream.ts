import type { Duplex } from 'node:stream';
import type { DiffIndex } from '../core/diff-index.js';
import { DiffDelta } from '../format/diff-delta.js';
import type { DiffDeltaOptions } from '../format/operations-options.js';
import type { ByteSource } from './chunks.js';
import { buildDiffIndex } from './diff-index-build.js';
import { producerChunks } from './_producer-chunks.js';
import { toDuplex } from './duplex.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import type { StreamOptions } from './progress.js';
import { resolveWorkerCount, type WorkerCount } from './worker-count.js';

export type DiffStreamOptions = DiffDeltaOptions &
  StreamOptions & {
    basisSha256?: Uint8Array;
    /** Threads indexing a basis given as bytes (see {@link buildDiffIndex}); default 1. */
    workers?: WorkerCount;
  };

/**
 * Two-sided diff, streamed: the basis in memory (or a prebuilt index of it), target chunks in,
 * native delta chunks out. With `workers` > 1, a basis given as bytes is indexed by that many
 * threads (the same delta, sooner).
 * @example
 * for await (const c of diffChunks(oldBytes, createReadStream('new.bin'))) out.write(c);
 */
export async function* diffChunks(
  basis: Uint8Array | DiffIndex,
  source: ByteSource,
  opts: DiffStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  if (basis instanceof Uint8Array && resolveWorkerCount(opts.workers) > 1) {
    const { index, sha256 } = await buildDiffIndex(basis, opts);
    basis = index;
    opts = { ...opts, basisSha256: opts.basisSha256 ?? sha256 };
  }
  yield* producerChunks((ondata) => new DiffDelta(basis, ondata, { ...opts, sha256: opts.sha256 ?? nodeSha256, rawDeflate: opts.rawDeflate ?? nodeRawDeflate, background: true }), source, opts);
}

/**
 * A Duplex: write the target in, read the two-sided delta out.
 * @example
 * await pipeline(createReadStream('new.bin'), createDiffStream(oldBytes), createWriteStream('d.rdelta'));
 */
export function createDiffStream(basis: Uint8Array | DiffIndex, opts: DiffStreamOptions = {}): Duplex {
  return toDuplex((src) => diffChunks(basis, src, opts), opts.signal);
}
