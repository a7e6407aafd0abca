import { open } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Hasher } from '../core/hash.js';
import { ioError } from './io-error.js';

/** Bytes per read: large enough for few round trips, small enough to hash one while the next lands. */
const READ_BYTES = 8 << 20;

/**
 * Reads a whole file into a SharedArrayBuffer, which worker threads can read without a copy (see
 * buildDiffIndex). With `hasher`, each piece is hashed while the next is being read, so the hash
 * of a diff's basis costs no time of its own. A file that shrinks or grows while being read is ERR_IO.
 * @example
 * const h = nodeSha256();
 * const basis = await readFileShared('old.bin', h); // h.digest() is the basis's SHA-256
 */
export async function readFileShared(path: string, hasher?: Hasher): Promise<Uint8Array> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(e, 'read', path);
  }
  try {
    const { size } = await fh.stat();
    const out = new Uint8Array(new SharedArrayBuffer(size));
    const readAt = async (at: number) => {
      const { bytesRead } = await fh.read(out, at, Math.min(size - at, READ_BYTES), at);
      if (bytesRead === 0) throw new RolldeltaError(ErrorCode.IO, `${path} ended at byte ${at} of the ${size} it had when opened: it changed while being read`);
      return bytesRead;
    };
    let at = 0;
    let next = size > 0 ? readAt(0) : undefined;
    while (next) {
      const n = await next;
      next = at + n < size ? readAt(at + n) : undefined;
      next?.catch(() => {}); // awaited on the next turn; a failure meanwhile is not unhandled
      hasher?.update(out.subarray(at, at + n));
      at += n;
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
