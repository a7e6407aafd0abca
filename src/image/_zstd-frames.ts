// Walks the frame structure of a zstd stream (RFC 8878 section 3.1) as its bytes arrive, so that
// every limit is checked before the decoder sees a frame: fzstd allocates the window a frame
// header claims (up to 2 GiB from 6 bytes) and decodes every block a push holds, so it is handed
// one checked block at a time.
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Largest window accepted: 128 MiB, `zstd -d`'s own default limit (windowLog 27), so every layer
 * the zstd tool decodes without `--memory` is read, and a header can cost no more than that. The
 * window is allocated whole by fzstd for each frame (and a Single_Segment frame's window is its
 * content size).
 */
export const MAX_ZSTD_WINDOW = 1 << 27;
/** Largest block a frame may hold, whatever its window (Block_Maximum_Size). */
const MAX_BLOCK = 128 << 10;

const enum State {
  Magic,
  Descriptor,
  Header,
  BlockHeader,
  Body,
  SkipLength,
  Skip,
}

/** What a frame header says. */
export interface ZstdFrameInfo {
  /** Bytes of history the decoder keeps (and fzstd allocates). */
  windowSize: number;
  /** Frame_Content_Size, or -1 when the header omits it. */
  contentSize: number;
  /** Whether a 4-byte XXH64 checksum follows the last block. */
  checksum: boolean;
  /** Largest output a block of this frame may have: the smaller of the window and 128 KiB. */
  blockMax: number;
}

/**
 * One block of a zstd frame, whole and checked: the bytes a decoder's push is given. The first
 * block's bytes start with the frame header, the last one's end with the frame's checksum.
 */
export interface ZstdBlock {
  bytes: Uint8Array;
  first: boolean;
  last: boolean;
  frame: ZstdFrameInfo;
}

/**
 * Cuts a zstd stream (frames and skippable frames, in input chunks of any size) into checked
 * blocks. Input is given with `feed` once `next` has used up the last chunk; every block is a
 * fresh copy, so the chunk may be reused after. A window above {@link MAX_ZSTD_WINDOW} or a
 * dictionary is ERR_UNSUPPORTED, a reserved bit or block type, an oversized block or bytes that
 * start no frame ERR_CORRUPT, a stream that ends inside a frame ERR_TRUNCATED, all naming `what`.
 * @example
 * const w = new ZstdFrameWalker('layer 2');
 * w.feed(chunk);
 * for (let b = w.next(); b; b = w.next()) decoder.push(b.bytes, b.last);
 * w.finish(); // after the last chunk
 */
export class ZstdFrameWalker {
  private input: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** Bytes of the stream consumed before `input`, for messages. */
  private base = 0;
  private state = State.Magic;
  /** The fixed-size fields being collected: magic, frame header, block header (at most 21 bytes). */
  private readonly head = new Uint8Array(32);
  private have = 0;
  /** Bytes `head` must hold before the current field is complete. */
  private need = 4;
  private frame: ZstdFrameInfo = { windowSize: 0, contentSize: -1, checksum: false, blockMax: 0 };
  private firstBlock = false;
  private block: Uint8Array = new Uint8Array(0);
  private blockFill = 0;
  private blockLast = false;
  private skipLeft = 0;

  constructor(private readonly what: string) {}

  /** Gives the next input chunk: only once `next` has returned undefined (the last one used up). */
  feed(chunk: Uint8Array): void {
    this.base += this.input.length;
    this.input = chunk;
    this.pos = 0;
  }

  /** The next complete block in the input fed so far, or undefined once it is used up. */
  next(): ZstdBlock | undefined {
    const input = this.input;
    for (;;) {
      // Checked before input: a block can end with the chunk, or be empty (an empty frame's last).
      if (this.state === State.Body && this.blockFill === this.block.length) return this.blockDone();
      if (this.pos >= input.length) return undefined;
      if (this.state === State.Skip) {
        const n = Math.min(this.skipLeft, input.length - this.pos);
        this.pos += n;
        this.skipLeft -= n;
        if (this.skipLeft === 0) this.expect(State.Magic, 4);
        continue;
      }
      if (this.state === State.Body) {
        const n = Math.min(this.block.length - this.blockFill, input.length - this.pos);
        this.block.set(input.subarray(this.pos, this.pos + n), this.blockFill);
        this.pos += n;
        this.blockFill += n;
        continue;
      }
      const n = Math.min(this.need - this.have, input.length - this.pos);
      this.head.set(input.subarray(this.pos, this.pos + n), this.have);
      this.pos += n;
      this.have += n;
      if (this.have === this.need) this.fieldDone();
    }
  }

  /** Says the input ended: ERR_TRUNCATED unless it ended between frames. */
  finish(): void {
    if (this.state === State.Magic && this.have === 0) return;
    throw new RolldeltaError(ErrorCode.TRUNCATED, `${this.what} is a zstd stream cut short: it ends inside a frame, after ${this.offset()} bytes; the archive is incomplete`);
  }

  /** Position in the whole stream of the next byte to read. */
  private offset(): number {
    return this.base + this.pos;
  }

  private expect(state: State, need: number): void {
    this.state = state;
    this.need = need;
  }

  /** A fixed-size field is complete in `head`: check it and say what comes next. */
  private fieldDone(): void {
    const h = this.head;
    switch (this.state) {
      case State.Magic:
        if (h[0] === 0x28 && h[1] === 0xb5 && h[2] === 0x2f && h[3] === 0xfd) return this.expect(State.Descriptor, 5);
        if ((h[0] & 0xf0) === 0x50 && h[1] === 0x2a && h[2] === 0x4d && h[3] === 0x18) return this.expect(State.SkipLength, 8);
        throw this.corrupt(`the 4 bytes at ${this.offset() - 4} start neither a zstd frame nor a skippable frame`);
      case State.SkipLength:
        this.skipLeft = readLe(h, 4, 4);
        this.have = 0;
        return this.skipLeft === 0 ? this.expect(State.Magic, 4) : this.expect(State.Skip, 0);
      case State.Descriptor: {
        if (h[4] & 0x08) throw this.corrupt(`a frame header at ${this.offset() - 5} sets the reserved bit`);
        const f = headerFields(h[4]);
        return this.expect(State.Header, f.dictionaryAt + f.dictionaryBytes + f.contentSizeBytes);
      }
      case State.Header:
        this.frame = this.frameInfo();
        this.firstBlock = true;
        return this.expect(State.BlockHeader, this.have + 3);
      case State.BlockHeader:
        return this.blockHeader();
      default:
        throw new Error(`unreachable zstd walker state ${this.state}`);
    }
  }

  /** Parses the frame header in `head`: window, dictionary, content size, checksum flag. */
  private frameInfo(): ZstdFrameInfo {
    const h = this.head;
    const fhd = h[4];
    const { single, dictionaryAt, dictionaryBytes, contentSizeBytes: n } = headerFields(fhd);
    const dictionary = readLe(h, dictionaryAt, dictionaryBytes);
    const at = dictionaryAt + dictionaryBytes;
    let contentSize = n === 0 ? -1 : n === 8 ? readLe(h, at, 4) + readLe(h, at + 4, 4) * 2 ** 32 : readLe(h, at, n);
    if (n === 2) contentSize += 256; // the 2-byte form starts at 256
    if (dictionary !== 0) {
      throw new RolldeltaError(
        ErrorCode.UNSUPPORTED,
        `${this.what} has a zstd frame that needs dictionary ${dictionary}, which a layer cannot carry; re-save the image with \`skopeo copy --dest-compress-format gzip\``,
      );
    }
    let windowSize: number;
    if (single) windowSize = contentSize;
    else {
      const wd = h[5];
      const base = 2 ** (10 + (wd >> 3));
      windowSize = base + (base / 8) * (wd & 7);
    }
    if (windowSize > MAX_ZSTD_WINDOW) {
      throw new RolldeltaError(
        ErrorCode.UNSUPPORTED,
        `${this.what} has a zstd frame with a ${windowSize}-byte window, more than the ${MAX_ZSTD_WINDOW} (128 MiB, \`zstd -d\`'s own default limit) rolldelta decodes; ` +
          're-compress the layer with a smaller window or save the image with `skopeo copy --dest-compress-format gzip`',
      );
    }
    return { windowSize, contentSize, checksum: ((fhd >> 2) & 1) === 1, blockMax: Math.min(windowSize, MAX_BLOCK) };
  }

  /** Parses the 3-byte block header at the end of `head` and makes room for the whole block. */
  private blockHeader(): void {
    const h = this.head;
    const at = this.have - 3;
    const b = h[at] | (h[at + 1] << 8) | (h[at + 2] << 16);
    const last = (b & 1) === 1;
    const type = (b >> 1) & 3;
    const size = b >>> 3;
    if (type === 3) throw this.corrupt(`the block header at ${this.offset() - 3} has the reserved block type`);
    if (size > this.frame.blockMax) {
      throw this.corrupt(`the block at ${this.offset() - 3} has ${size} bytes, more than its frame's ${this.frame.blockMax}`);
    }
    // An RLE block holds one byte for `size` bytes of output; the frame's checksum rides with its last block.
    const body = (type === 1 ? 1 : size) + (last && this.frame.checksum ? 4 : 0);
    this.block = new Uint8Array(this.have + body);
    this.block.set(h.subarray(0, this.have));
    this.blockFill = this.have;
    this.blockLast = last;
    this.have = 0;
    this.state = State.Body;
  }

  private blockDone(): ZstdBlock {
    const block: ZstdBlock = { bytes: this.block, first: this.firstBlock, last: this.blockLast, frame: this.frame };
    this.firstBlock = false;
    if (this.blockLast) this.expect(State.Magic, 4);
    else this.expect(State.BlockHeader, 3);
    return block;
  }

  private corrupt(detail: string): RolldeltaError {
    return new RolldeltaError(ErrorCode.CORRUPT, `${this.what} is not a valid zstd stream: ${detail}; the archive is damaged`);
  }
}

/** Where a frame header's fields lie, from its descriptor byte (RFC 8878 3.1.1.1.1). */
function headerFields(fhd: number): { single: boolean; dictionaryAt: number; dictionaryBytes: number; contentSizeBytes: number } {
  const single = ((fhd >> 5) & 1) === 1;
  const fcsFlag = fhd >> 6;
  // after the magic and the descriptor, a Window_Descriptor byte unless Single_Segment
  return { single, dictionaryAt: single ? 5 : 6, dictionaryBytes: [0, 1, 2, 4][fhd & 3], contentSizeBytes: fcsFlag === 0 ? (single ? 1 : 0) : 1 << fcsFlag };
}

/** `n` (at most 4) bytes little-endian at `at`, as an unsigned number. */
function readLe(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[at + i];
  return v;
}
