import { resolve } from 'node:path';
import { ErrorCode, isRolldeltaError } from '../core/errors.js';
import { readFile, stat } from 'node:fs/promises';
import { isAlreadyTarget } from './already-target.js';
import { writeFileAtomic } from './atomic-file.js';
import { deltaChunks, type DeltaStreamOptions } from './delta-stream.js';
import { indexFile } from './diff-index-build.js';
import { diffChunks, type DiffStreamOptions } from './diff-stream.js';
import { FileBasis } from './file-basis.js';
import { ioError } from './io-error.js';
import { patchChunks, type PatchStreamOptions } from './patch-stream.js';
import { reusedFileChunks } from './reused-chunks.js';
import { signatureFileChunks, type SignatureStreamOptions } from './signature-stream.js';

/** Target bytes per read (through two reused buffers: the matchers copy what they keep). */
const READ_BYTES = 1 << 20;

/** Result of a file operation: bytes read from the main input and written to the output. */
export interface FileResult {
  bytesIn: number;
  bytesOut: number;
  /** patchFile over the basis: the file already was the delta's target (patched before), kept as is. */
  alreadyTarget?: boolean;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw ioError(e, 'read', path);
  }
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
  const size = await sizeOf(basisPath);
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
  const size = await sizeOf(targetPath);
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
  // Indexed while it is read (on `workers` threads), and hashed on the way.
  const { index, sha256 } = await indexFile(basisPath, opts);
  opts = { ...opts, basisSha256: opts.basisSha256 ?? sha256 };
  const size = await sizeOf(targetPath);
  const bytesOut = await writeFileAtomic(deltaPath, diffChunks(index, reusedFileChunks(targetPath, 0, READ_BYTES), { size, ...opts }));
  return { bytesIn: size, bytesOut };
}

/**
 * Rebuilds the target from `basisPath` and the delta in `deltaPath` into `outPath`. The output
 * appears under its name only once complete and verified; `outPath` may be `basisPath` itself
 * (the basis is replaced only after success); run again over a basis it already made into the
 * target (a retry after a crash), it leaves the file as it is and says `alreadyTarget`.
 * @example
 * await patchFile('old.bin', 'update.rdelta', 'new.bin');
 */
export async function patchFile(basisPath: string, deltaPath: string, outPath: string, opts: PatchStreamOptions = {}): Promise<FileResult> {
  const size = await sizeOf(deltaPath);
  const basis = await FileBasis.open(basisPath);
  try {
    // The output appears only once verified, so the basis need not be hashed up front.
    const bytesOut = await writeFileAtomic(outPath, patchChunks(basis, reusedFileChunks(deltaPath), { size, verifyBasis: 'on-failure', ...opts }, true));
    return { bytesIn: size, bytesOut };
  } catch (e) {
    // Over the basis, run again after it finished (a device retrying after a crash): the file is
    // the target now. (To another path, a basis that is the target is the caller's mistake.)
    const overItself = resolve(outPath) === resolve(basisPath);
    if (overItself && isRolldeltaError(e) && e.code === ErrorCode.BASIS_MISMATCH && (await isAlreadyTarget(basisPath, deltaPath))) {
      return { bytesIn: size, bytesOut: basis.length, alreadyTarget: true };
    }
    throw e;
  } finally {
    await basis.close();
  }
}
