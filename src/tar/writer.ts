import { assertBytes } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { encodeHeader, type TarHeaderFields } from './encode-header.js';
import { BLOCK } from './header.js';

/**
 * Streaming tar writer that reproduces an archive byte for byte from the raw header blocks a
 * TarReader reported, the content, the padding and the trailer. Chunks given to `write` are passed
 * to `ondata` as they are (no copy).
 * @example
 * const w = new TarWriter((chunk) => out.push(chunk));
 * w.beginEntry(entry.headerBlocks, entry.size);
 * w.write(content);
 * w.endEntry(entry.paddingBytes);
 * w.finish(trailer);
 */
export class TarWriter {
  private readonly ondata: (chunk: Uint8Array) => void;
  private inEntry = false;
  private finished = false;
  private remaining = 0;
  private size = 0;

  constructor(ondata: (chunk: Uint8Array) => void) {
    if (typeof ondata !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'TarWriter needs an ondata function');
    this.ondata = ondata;
  }

  /** Writes raw header blocks verbatim, then expects exactly `size` content bytes via write(). */
  beginEntry(headerBlocks: Uint8Array, size: number): void {
    this.idle('beginEntry');
    assertBlocks(headerBlocks, 'header blocks', false);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter.beginEntry: size must be a non-negative safe integer, got ${size}`);
    }
    this.inEntry = true;
    this.remaining = size;
    this.size = size;
    this.ondata(headerBlocks);
  }

  /** Content bytes of the current entry; never more than the size given to beginEntry. */
  write(chunk: Uint8Array): void {
    assertBytes(chunk, 'tar content chunk');
    if (!this.inEntry) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'TarWriter.write called outside an entry; call beginEntry first');
    if (chunk.length > this.remaining) {
      throw new RolldeltaError(
        ErrorCode.INVALID_ARGUMENT,
        `TarWriter.write: ${chunk.length} bytes given but only ${this.remaining} of the entry's ${this.size} remain`,
      );
    }
    this.remaining -= chunk.length;
    if (chunk.length > 0) this.ondata(chunk);
  }

  /** Ends the entry and pads it to 512 bytes: with zeros, or with the reader's `paddingBytes`. */
  endEntry(paddingBytes?: Uint8Array): void {
    if (!this.inEntry) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'TarWriter.endEntry called outside an entry');
    if (this.remaining !== 0) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter.endEntry: ${this.remaining} of the entry's ${this.size} content bytes were never written`);
    }
    const pad = (BLOCK - (this.size % BLOCK)) % BLOCK;
    if (paddingBytes !== undefined) {
      assertBytes(paddingBytes, 'padding bytes');
      if (paddingBytes.length !== pad) {
        throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter.endEntry: an entry of ${this.size} bytes has ${pad} padding bytes, got ${paddingBytes.length}`);
      }
    }
    this.inEntry = false;
    if (pad > 0) this.ondata(paddingBytes ?? new Uint8Array(pad));
  }

  /** Writes raw blocks verbatim between entries (pax global headers). */
  writeRaw(blocks: Uint8Array): void {
    this.idle('writeRaw');
    assertBlocks(blocks, 'raw blocks', true);
    if (blocks.length > 0) this.ondata(blocks);
  }

  /** Writes the trailer verbatim (or, when none is given, two zero blocks, as Go does). */
  finish(trailer?: Uint8Array): void {
    this.idle('finish');
    if (trailer !== undefined) assertBytes(trailer, 'trailer');
    this.finished = true;
    const t = trailer ?? new Uint8Array(2 * BLOCK);
    if (t.length > 0) this.ondata(t);
  }

  /**
   * Builds header blocks from fields (ustar; adds a pax 'x' header when something doesn't fit).
   * @example
   * w.beginEntry(TarWriter.encodeHeader({ name: 'a.txt', type: 'file', size: 3 }), 3);
   */
  static encodeHeader(fields: TarHeaderFields): Uint8Array {
    return encodeHeader(fields);
  }

  private idle(what: string): void {
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter.${what} called after finish`);
    if (this.inEntry) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter.${what} called inside an entry; call endEntry first`);
  }
}

function assertBlocks(b: Uint8Array, what: string, allowEmpty: boolean): void {
  assertBytes(b, what);
  if (b.length % BLOCK !== 0 || (!allowEmpty && b.length === 0)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `TarWriter: ${what} must be a non-empty multiple of 512 bytes, got ${b.length}`);
  }
}
