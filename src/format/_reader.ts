import { ErrorCode, RolldeltaError } from '../core/errors.js';

const EMPTY = new Uint8Array(0);

/**
 * The incremental byte queue behind every decoder. A pushed chunk is read in place; whatever a
 * push leaves unread is copied into a buffer the reader owns (`keep`), because the caller may
 * reuse its chunk. The owned buffer only grows to the largest structure a decoder waits for,
 * and decoders check that size against their limits before waiting.
 */
export class ByteReader {
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private end = 0;
  private owned = false;
  /** Stream position of the next unread byte, for error messages. */
  offset = 0;

  /** Unread bytes. */
  get available(): number {
    return this.end - this.pos;
  }

  /** Queues a chunk after the unread bytes. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.pos === this.end) {
      this.buf = chunk;
      this.pos = 0;
      this.end = n;
      this.owned = false;
      return;
    }
    const live = this.end - this.pos;
    if (!this.owned || this.buf.length - this.end < n) {
      const need = live + n;
      if (this.owned && this.buf.length >= need) {
        this.buf.copyWithin(0, this.pos, this.end);
      } else {
        // Grow by doubling, so a structure arriving in many small chunks costs linear time.
        const grown = new Uint8Array(Math.max(need, this.buf.length * 2, 256));
        grown.set(this.buf.subarray(this.pos, this.end));
        this.buf = grown;
        this.owned = true;
      }
      this.pos = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += n;
  }

  /** Copies unread bytes out of the caller's chunk; call before returning from a decoder's push. */
  keep(): void {
    if (this.owned || this.pos === this.end) {
      if (this.pos === this.end) this.release();
      return;
    }
    const live = this.end - this.pos;
    const copy = new Uint8Array(Math.max(live, 256));
    copy.set(this.buf.subarray(this.pos, this.end));
    this.buf = copy;
    this.pos = 0;
    this.end = live;
    this.owned = true;
  }

  /** Next byte, without consuming it (caller checks `available`). */
  peek(i = 0): number {
    return this.buf[this.pos + i];
  }

  /** Consumes one byte (caller checks `available`). */
  u8(): number {
    this.offset++;
    return this.buf[this.pos++];
  }

  /** Consumes a big-endian u32 (caller checks `available >= 4`). */
  u32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    this.offset += 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  /** Consumes `n` bytes as a view, valid until the next push (caller checks `available`). */
  bytes(n: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return out;
  }

  /** Consumes up to `max` bytes as a view: whatever is available, for streamed data. */
  some(max: number): Uint8Array {
    return this.bytes(Math.min(max, this.end - this.pos));
  }

  private release(): void {
    // Drop a large owned buffer once it is drained, so one big frame does not pin memory.
    if (!this.owned || this.buf.length > 1 << 16) {
      this.buf = EMPTY;
      this.owned = false;
    }
    this.pos = 0;
    this.end = 0;
  }
}

/**
 * The life cycle every decoder shares: after an error it is dead and rethrows that error; after
 * a final push it accepts nothing more.
 */
export class DecoderState {
  error: unknown = undefined;
  finished = false;

  /** Throws if the decoder can take no more input. */
  check(): void {
    if (this.error !== undefined) throw this.error;
    if (this.finished) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'push after the final chunk; create a new decoder for new input');
    }
  }
}

/** ERR_TRUNCATED for input that ended inside `what`. */
export function truncated(what: string, offset: number): RolldeltaError {
  return new RolldeltaError(ErrorCode.TRUNCATED, `the input ended inside ${what} (at byte ${offset}); the file is incomplete, fetch it again`);
}

/** ERR_CORRUPT with the position. */
export function corrupt(what: string, offset: number): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `corrupt input at byte ${offset}: ${what}; the file is damaged, fetch it again`);
}

/** ERR_LIMIT naming the limit to raise. */
export function overLimit(what: string, value: number, limit: string, max: number): RolldeltaError {
  return new RolldeltaError(ErrorCode.LIMIT, `${what} is ${value}, above the ${limit} limit of ${max}; raise limits.${limit} if the input is trusted`);
}

/** Reads a big-endian u32 from a buffer. */
export function readU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/** Writes a big-endian u32 into a buffer. */
export function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}
