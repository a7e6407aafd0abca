import type { Duplex } from 'node:stream';
import type { Signature } from '../core/params.js';
import type { DeltaOptions } from '../format/operations-options.js';
import { RsyncDelta } from '../format/rsync-delta.js';
import { decodeSignature } from '../format/signature-codec.js';
import type { ByteSource } from './chunks.js';
import { producerChunks } from './_producer-chunks.js';
import { toDuplex } from './duplex.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import type { StreamOptions } from './progress.js';

export type DeltaStreamOptions = DeltaOptions & StreamOptions;

/**
 * rsync-mode delta, streamed: target chunks in, delta chunks out as soon as they are known.
 * Memory: the signature plus one block window.
 * @example
 * for await (const c of deltaChunks(sigBytes, createReadStream('new.bin'))) deltaOut.write(c);
 */
export async function* deltaChunks(
  sig: Uint8Array | Signature,
  source: ByteSource,
  opts: DeltaStreamOptions = {},
): AsyncGenerator<Uint8Array> {
  const parsed = sig instanceof Uint8Array ? decodeSignature(sig) : sig;
  yield* producerChunks((ondata) => new RsyncDelta(parsed, ondata, { ...opts, sha256: opts.sha256 ?? nodeSha256, rawDeflate: opts.rawDeflate ?? nodeRawDeflate, background: true }), source, opts);
}

/**
 * A Duplex: write the target in, read the delta out.
 * @example
 * await pipeline(createReadStream('new.bin'), createDeltaStream(sigBytes), createWriteStream('d.rdelta'));
 */
export function createDeltaStream(sig: Uint8Array | Signature, opts: DeltaStreamOptions = {}): Duplex {
  return toDuplex((src) => deltaChunks(sig, src, opts), opts.signal);
}
