import type { HasherFactory } from '../core/hash.js';
import { byteChunks } from './chunks.js';
import { ioError } from './io-error.js';
import { nodeSha256 } from './node-sha256.js';
import { reusedFileChunks } from './reused-chunks.js';

/**
 * SHA-256 and length of a whole file, read 1 MiB at a time through reused buffers. Failures are
 * ERR_IO naming the file; `signal` stops the read (ERR_ABORTED).
 * @example
 * const { digest, length } = await fileSha256('app.tar');
 */
export async function fileSha256(path: string, opts: { sha256?: HasherFactory; signal?: AbortSignal } = {}): Promise<{ length: number; digest: Uint8Array }> {
  const h = (opts.sha256 ?? nodeSha256)();
  let length = 0;
  try {
    for await (const c of byteChunks(reusedFileChunks(path, 0, 1 << 20), opts.signal)) {
      h.update(c);
      length += c.length;
    }
  } catch (e) {
    throw ioError(e, 'read', path);
  }
  return { length, digest: h.digest() };
}
