import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { SignatureParams } from '../core/params.js';
import { SignatureBuilder } from '../core/signature-builder.js';
import type { SignatureOptions } from '../format/operations-options.js';
import { encodeSignature } from '../format/signature-codec.js';
import { resolveFormatParams } from '../format/signature-defaults.js';
import { byteChunks, type ByteSource } from './chunks.js';
import { toDuplex } from './duplex.js';
import { ioError, systemErrorIn } from './io-error.js';
import { nodeSha256 } from './node-sha256.js';
import { ProgressMeter, type StreamOptions } from './progress.js';
import { reusedFileChunks } from './reused-chunks.js';
import { workersForSize, type WorkerCount } from './worker-count.js';
import { fileSignatureParallel, streamSignatureParallel, type ParallelSignatureOptions } from './_parallel-signature.js';

/** Options of the streaming signature. `size` (the basis length) picks the default block length. */
export type SignatureStreamOptions = SignatureOptions &
  StreamOptions & {
    /**
     * Threads that sum blocks: 1 (default) sums on the calling thread; 2 or more use worker_threads
     * (the output is byte-identical); 0 or 'auto' one per core, but one for a `size` under 64 MiB
     * (see AUTO_WORKERS_FROM). Workers hash with node:crypto.
     */
    workers?: WorkerCount;
  };

function paramsOf(opts: SignatureStreamOptions): SignatureParams {
  return resolveFormatParams(opts.size, opts);
}

function parallelOptions(opts: SignatureStreamOptions, workers: number, meter: ProgressMeter): ParallelSignatureOptions {
  return { workers, withSha256: (opts.format ?? 'native') === 'native', meter, signal: opts.signal, sha256: opts.sha256 };
}

/**
 * Reads a basis chunk by chunk and yields its encoded signature at the end. With `workers` > 1,
 * chunks are cut into pieces of whole blocks that worker threads sum in parallel.
 * @example
 * for await (const c of signatureChunks(createReadStream('old.bin'), { size })) sigOut.write(c);
 */
export async function* signatureChunks(source: ByteSource, opts: SignatureStreamOptions = {}): AsyncGenerator<Uint8Array> {
  const format = opts.format ?? 'native';
  const params = paramsOf(opts);
  const workers = workersForSize(opts.workers, opts.size);
  const meter = new ProgressMeter(opts);
  let out: Uint8Array;
  if (workers > 1) {
    out = encodeSignature(await streamSignatureParallel(source, params, parallelOptions(opts, workers, meter)), format);
  } else {
    const builder = new SignatureBuilder(params, { sha256: opts.sha256 ?? nodeSha256 });
    for await (const chunk of byteChunks(source, opts.signal)) {
      builder.push(chunk);
      meter.input(chunk.length);
    }
    out = encodeSignature(builder.finish(), format);
  }
  meter.output(out.length);
  meter.report();
  yield out;
}

/**
 * The encoded signature of the file at `path` (`opts.size` bytes, required). With `workers` > 1
 * each worker thread reads its own ranges of whole blocks with positional reads.
 * @example
 * for await (const c of signatureFileChunks('old.bin', { size, workers: 2 })) sigOut.write(c);
 */
export async function* signatureFileChunks(path: string, opts: SignatureStreamOptions & { size: number }): AsyncGenerator<Uint8Array> {
  const workers = workersForSize(opts.workers, opts.size);
  // Ranges need a regular file; a pipe or device (/dev/stdin) is read in order, piped to workers.
  const regular = await isRegularFile(path);
  if (workers === 1 || !regular) {
    // A file is read through two reused buffers (signatureChunks copies what it keeps): fresh 1 MiB
    // reads piled up for the collector, and a 256 MB file's signature peaked at 318 MB RSS.
    const source = regular ? reusedFileChunks(path) : createReadStream(path, { highWaterMark: 1 << 20 });
    try {
      yield* signatureChunks(source, opts);
    } catch (e) {
      // Reads fail with bare Node errors (EACCES, EISDIR; as the cause of reusedFileChunks' own)
      // that do not say the file is the basis.
      const system = systemErrorIn(e);
      throw system ? ioError(system, 'read the basis', path) : e;
    }
    return;
  }
  const meter = new ProgressMeter(opts);
  const sig = await fileSignatureParallel(path, opts.size, paramsOf(opts), parallelOptions(opts, workers, meter));
  const out = encodeSignature(sig, opts.format ?? 'native');
  meter.output(out.length);
  meter.report();
  yield out;
}

async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    throw ioError(e, 'read', path);
  }
}

/**
 * A Duplex: write the basis in, read its signature out.
 * @example
 * await pipeline(createReadStream('old.bin'), createSignatureStream({ workers: 2 }), createWriteStream('old.sig'));
 */
export function createSignatureStream(opts: SignatureStreamOptions = {}): Duplex {
  return toDuplex((src) => signatureChunks(src, opts), opts.signal);
}
