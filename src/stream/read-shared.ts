import { stat } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Hasher } from '../core/hash.js';
import { FileBasis } from './file-basis.js';
import { ioError } from './io-error.js';

/** Bytes per read: large enough for few round trips, small enough to hash one while the next lands. */
const READ_BYTES = 8 << 20;

export interface ReadSharedOptions {
  /** Hashes each piece as it lands. */
  hasher?: Hasher;
  /**
   * Called once with the buffer the file is read into, while its first piece is being read:
   * to set up what works on it (indexFile starts its worker threads here).
   */
  onOpen?: (bytes: Uint8Array) => void;
  /** Called after each piece lands (and is hashed) with the buffer and the bytes read so far. */
  onRead?: (bytes: Uint8Array, read: number) => void;
}

/**
 * Reads a whole file into a SharedArrayBuffer, which worker threads can read without a copy (see
 * buildDiffIndex). Each piece is hashed (`hasher`) and handed on (`onRead`) while the next one is
 * being read, so the hash of a diff's basis, and most of its indexing, cost no time of their own.
 * A file that shrinks or grows while being read is ERR_IO (FileBasis's positional reads).
 * @example
 * const h = nodeSha256();
 * const basis = await readFileShared('old.bin', { hasher: h }); // h.digest() is its SHA-256
 */
export async function readFileShared(path: string, opts: ReadSharedOptions = {}): Promise<Uint8Array> {
  const file = await FileBasis.open(path);
  try {
    const size = file.length;
    const out = new Uint8Array(new SharedArrayBuffer(size));
    const readAt = (at: number) => {
      const n = Math.min(size - at, READ_BYTES);
      const r = file.readInto(out, at, at, n).then(() => n);
      r.catch(() => {}); // awaited on the next turn; a failure meanwhile is not unhandled
      return r;
    };
    let at = 0;
    let next = size > 0 ? readAt(0) : undefined;
    opts.onOpen?.(out);
    while (next) {
      const n = await next;
      next = at + n < size ? readAt(at + n) : undefined;
      opts.hasher?.update(out.subarray(at, at + n));
      at += n;
      opts.onRead?.(out, at);
    }
    if ((await stat(path)).size !== size) throw new RolldeltaError(ErrorCode.IO, `${path} grew past the ${size} bytes it had when opened: it changed while being read`);
    return out;
  } catch (e) {
    throw ioError(e, 'read', path);
  } finally {
    await file.close();
  }
}
