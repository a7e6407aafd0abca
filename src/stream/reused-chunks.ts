import { open, type FileHandle } from 'node:fs/promises';
import { ioError } from './io-error.js';

/** Bytes per read of {@link reusedFileChunks}. */
const CHUNK_BYTES = 256 << 10;

/**
 * Reads a file from byte `start` to its end through two buffers, yielding a view of one per read
 * while the next read fills the other: each chunk is valid only until the next one is asked for.
 * For consumers that copy what they keep (the decoders and matchers do), so that reading an input
 * of any size allocates two buffers instead of a fresh one per read, which pile up as garbage
 * between collections (peak RSS).
 * @example
 * for await (const c of reusedFileChunks('update.rdelta')) decoder.push(c);
 */
export async function* reusedFileChunks(path: string, start = 0, chunkBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw ioError(e, 'open', path);
  }
  const buffers = [new Uint8Array(chunkBytes), new Uint8Array(chunkBytes)];
  let turn = 0;
  const readAt = async (position: number): Promise<Uint8Array> => {
    const buf = buffers[turn++ & 1];
    try {
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, position);
      return buf.subarray(0, bytesRead);
    } catch (e) {
      throw ioError(e, 'read', path);
    }
  };
  let next: Promise<Uint8Array> | undefined = readAt(start);
  try {
    for (let position = start; ; ) {
      const chunk: Uint8Array = await next;
      next = undefined;
      if (chunk.length === 0) return;
      position += chunk.length;
      // The other buffer fills while the consumer uses this one.
      next = readAt(position);
      next.catch(() => {}); // awaited on the next turn, or in finally
      yield chunk;
    }
  } finally {
    await next?.catch(() => {}); // a read in flight must end before its file closes
    await fh.close();
  }
}
