// The worker thread's side of unzstdChunks (src/image/unzstd-chunks.ts): fzstd decoders, one per
// stream, fed one checked block at a time. They run there because fzstd can spin for minutes on a
// damaged block, and only a thread can be stopped in the middle of a loop.
import { Decompress, ZstdErrorCode } from 'fzstd';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** The decoders of the streams this thread is decoding, by their number. */
const decoders = new Map<number, { decoder: Decompress; out: Uint8Array[] }>();

/**
 * Decodes one block of stream `stream` (its frame's first block starts a decoder, its last ends
 * it) and returns the output, fresh arrays of at most 128 KiB each. fzstd's failures are
 * ERR_TRUNCATED (a block cut short) or ERR_CORRUPT with fzstd's message; the caller names the layer.
 * @example
 * decodeZstdBlock(7, block.bytes, block.first, block.last); // [Uint8Array(131072)]
 */
export function decodeZstdBlock(stream: number, bytes: Uint8Array, first: boolean, last: boolean): Uint8Array[] {
  let d = decoders.get(stream);
  if (first || !d) {
    const out: Uint8Array[] = [];
    // fzstd hands each block's output as a fresh array (it keeps its window apart): no copy.
    d = { decoder: new Decompress((c) => void (c.length > 0 && out.push(c))), out };
    decoders.set(stream, d);
  }
  try {
    d.decoder.push(bytes, last);
  } catch (e) {
    decoders.delete(stream);
    const truncated = (e as { code?: unknown }).code === ZstdErrorCode.UnexpectedEOF;
    throw new RolldeltaError(truncated ? ErrorCode.TRUNCATED : ErrorCode.CORRUPT, (e as Error).message);
  }
  if (last) decoders.delete(stream);
  return d.out.splice(0);
}

