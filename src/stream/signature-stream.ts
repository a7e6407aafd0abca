import type { Duplex } from 'node:stream';
import { resolveSignatureParams } from '../core/block-size.js';
import { SignatureBuilder } from '../core/signature-builder.js';
import { defaultHashFor, type SignatureOptions } from '../format/operations-options.js';
import { encodeSignature } from '../format/signature-codec.js';
import { byteChunks, type ByteSource } from './chunks.js';
import { toDuplex } from './duplex.js';
import { nodeSha256 } from './node-sha256.js';
import { ProgressMeter, type StreamOptions } from './progress.js';

/** Options of the streaming signature. `size` (the basis length) picks rdiff's block length. */
export type SignatureStreamOptions = SignatureOptions & StreamOptions;

/**
 * Reads a basis chunk by chunk and yields its encoded signature at the end.
 * @example
 * for await (const c of signatureChunks(createReadStream('old.bin'), { size })) sigOut.write(c);
 */
export async function* signatureChunks(source: ByteSource, opts: SignatureStreamOptions = {}): AsyncGenerator<Uint8Array> {
  const format = opts.format ?? 'native';
  const params = resolveSignatureParams(opts.size, { ...opts, hash: opts.hash ?? defaultHashFor(format) });
  const builder = new SignatureBuilder(params, { sha256: opts.sha256 ?? nodeSha256 });
  const meter = new ProgressMeter(opts);
  for await (const chunk of byteChunks(source, opts.signal)) {
    builder.push(chunk);
    meter.input(chunk.length);
  }
  const out = encodeSignature(builder.finish(), format);
  meter.output(out.length);
  meter.report();
  yield out;
}

/**
 * A Duplex: write the basis in, read its signature out.
 * @example
 * await pipeline(createReadStream('old.bin'), createSignatureStream(), createWriteStream('old.sig'));
 */
export function createSignatureStream(opts: SignatureStreamOptions = {}): Duplex {
  return toDuplex((src) => signatureChunks(src, opts), opts.signal);
}
