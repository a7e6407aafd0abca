import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-file.js';
import { deltaChunks, type DeltaStreamOptions } from './delta-stream.js';
import { diffChunksAgainstFile, type DiffStreamOptions } from './diff-stream.js';
import { fileSize } from './file-size.js';
import { ioError } from './io-error.js';
import { reusedFileChunks } from './reused-chunks.js';
import { signatureFileChunks, type SignatureStreamOptions } from './signature-stream.js';

// Its own module: a patch (the device's one operation) loads none of the encoders.
export { patchFile } from './patch-file.js';

/** Target bytes per read (through two reused buffers: the matchers copy what they keep). */
const READ_BYTES = 1 << 20;

/** Result of a file operation: bytes read from the main input and written to the output. */
export interface FileResult {
  bytesIn: number;
  bytesOut: number;
  /** patchFile over the basis: the file already was the delta's target (patched before), kept as is. */
  alreadyTarget?: boolean;
}

async function readAll(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw ioError(e, 'read', path);
  }
}

/**
 * Writes the signature of the file `basisPath` to `sigPath` (atomically: temporary file + rename).
 * `workers: 2` (or 'auto') splits the file into ranges of whole blocks summed by worker threads.
 * @example
 * await signatureFile('old.bin', 'old.sig', { format: 'rdiff', workers: 'auto' });
 */
export async function signatureFile(basisPath: string, sigPath: string, opts: SignatureStreamOptions = {}): Promise<FileResult> {
  const size = await fileSize(basisPath);
  const bytesOut = await writeFileAtomic(sigPath, signatureFileChunks(basisPath, { ...opts, size }));
  return { bytesIn: size, bytesOut };
}

/**
 * Writes the rsync-mode delta of `targetPath` against the signature in `sigPath` to `deltaPath`.
 * @example
 * await deltaFile('old.sig', 'new.bin', 'update.rdelta');
 */
export async function deltaFile(sigPath: string, targetPath: string, deltaPath: string, opts: DeltaStreamOptions = {}): Promise<FileResult> {
  const sig = await readAll(sigPath);
  const size = await fileSize(targetPath);
  const bytesOut = await writeFileAtomic(deltaPath, deltaChunks(sig, reusedFileChunks(targetPath, 0, READ_BYTES), { size, ...opts }));
  return { bytesIn: size, bytesOut };
}

/**
 * Writes the two-sided diff of `targetPath` against `basisPath` to `deltaPath`. The basis is held in
 * memory (plus its index, a fraction of its size); the target is streamed. `workers: 2` (or 'auto')
 * indexes the basis on two threads.
 * @example
 * await diffFile('old.bin', 'new.bin', 'update.rdelta', { level: 9, workers: 'auto' });
 */
export async function diffFile(basisPath: string, targetPath: string, deltaPath: string, opts: DiffStreamOptions = {}): Promise<FileResult> {
  const size = await fileSize(targetPath);
  const bytesOut = await writeFileAtomic(deltaPath, diffChunksAgainstFile(basisPath, reusedFileChunks(targetPath, 0, READ_BYTES), { size, ...opts }));
  return { bytesIn: size, bytesOut };
}
