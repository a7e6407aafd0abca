import { open } from 'node:fs/promises';
import { ioError } from './io-error.js';

/** Bytes per read of {@link reusedFileChunks}. */
const CHUNK_BYTES = 256 << 10;

/**
 * Reads a file from byte `start` to its end into one buffer, yielding a view of it per read: each
 * chunk is valid only until the next one is asked for. For consumers that copy what they keep (the
 * decoders do), so that reading a delta of any size allocates one buffer instead of a fresh one per
 * read, which piles up as garbage between collections (peak RSS).
 * @example
 * for await (const c of reusedFileChunks('update.rdelta')) decoder.push(c);
 */
export async function* reusedFileChunks(path: string, start = 0, chunkBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(e, 'open', path);
  }
  try {
    const buf = new Uint8Array(chunkBytes);
    for (let position = start; ; ) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(buf, 0, chunkBytes, position));
      } catch (e) {
        throw ioError(e, 'read', path);
      }
      if (n === 0) return;
      position += n;
      yield buf.subarray(0, n);
    }
  } finally {
    await fh.close();
  }
}
