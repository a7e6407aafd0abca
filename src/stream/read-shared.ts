import { open } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { ioError } from './io-error.js';

/**
 * Reads a whole file into a SharedArrayBuffer, which worker threads can read without a copy (see
 * buildDiffIndex). A file that shrinks or grows while being read is ERR_IO.
 * @example
 * const basis = await readFileShared('old.bin');
 */
export async function readFileShared(path: string): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(e, 'read', path);
  }
  try {
    const { size } = await fh.stat();
    const out = new Uint8Array(new SharedArrayBuffer(size));
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(out, at, Math.min(size - at, 8 << 20), at);
      if (bytesRead === 0) throw new RolldeltaError(ErrorCode.IO, `${path} ended at byte ${at} of the ${size} it had when opened: it changed while being read`);
      at += bytesRead;
    }
    const { bytesRead } = await fh.read(new Uint8Array(1), 0, 1, size);
    if (bytesRead !== 0) throw new RolldeltaError(ErrorCode.IO, `${path} grew past the ${size} bytes it had when opened: it changed while being read`);
    return out;
  } catch (e) {
    throw ioError(e, 'read', path);
  } finally {
    await fh.close();
  }
}
