import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, isRolldeltaError } from '../core/errors.js';
import { isAlreadyTarget } from './already-target.js';
import { writeFileAtomic } from './atomic-file.js';
import { FileBasis } from './file-basis.js';
import type { FileResult } from './file-operations.js';
import { fileSize } from './file-size.js';
import { patchChunks, type PatchStreamOptions } from './patch-stream.js';
import { reusedFileChunks } from './reused-chunks.js';

/**
 * Rebuilds the target from `basisPath` and the delta in `deltaPath` into `outPath`. The output
 * appears under its name only once complete and verified; `outPath` may be `basisPath` itself
 * (the basis is replaced only after success); run again over a basis it already made into the
 * target (a retry after a crash), it leaves the file as it is and says `alreadyTarget`. A new
 * `outPath` gets the basis's permissions (less the umask); a file replaced keeps its own.
 * @example
 * await patchFile('old.bin', 'update.rdelta', 'new.bin');
 */
export async function patchFile(basisPath: string, deltaPath: string, outPath: string, opts: PatchStreamOptions = {}): Promise<FileResult> {
  const size = await fileSize(deltaPath);
  const basis = await FileBasis.open(basisPath);
  try {
    // The output appears only once verified, so the basis need not be hashed up front.
    // A new output is as private as the basis it is made from (as cp makes a copy).
    const mode = (await stat(basisPath)).mode & 0o777;
    const bytesOut = await writeFileAtomic(outPath, patchChunks(basis, reusedFileChunks(deltaPath), { size, verifyBasis: 'on-failure', ...opts }, true), { mode });
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
