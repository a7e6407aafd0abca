import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Unsigned LEB128 varints for values up to 2^53 - 1, with Number arithmetic (no 32-bit bit ops,
 * which would wrap above 2^31). Zigzag maps signed values of magnitude below 2^52 onto them.
 */

/** Largest magnitude a zigzag value may have, so that its varint stays a safe integer. */
export const MAX_ZIGZAG_MAGNITUDE = 2 ** 52 - 1;

/** Bytes `value` takes as a varint. */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * Writes `value` (a safe non-negative integer) at `pos`; returns the position after it.
 * The caller guarantees room (at most 8 bytes).
 * @example
 * const end = writeVarint(buf, 0, 300); // buf = [0xac, 0x02], end = 2
 */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  while (value >= 128) {
    buf[pos++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/**
 * Zigzag-encodes a signed integer: 0, -1, 1, -2 ... become 0, 1, 2, 3 ...
 * @example
 * zigzag(-3); // 5
 */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/**
 * Inverse of `zigzag`.
 * @example
 * unzigzag(5); // -3
 */
export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/**
 * A read position in a complete buffer (a frame body). Running past its end is corruption, not
 * truncation: the frame's length was already checked.
 * @example
 * const c = new Cursor(body, 0, body.length); const n = c.varint();
 */
export class Cursor {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reads a canonical varint (no overlong forms, at most 2^53 - 1). */
  varint(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (pos >= end) throw corrupt('a varint runs past the end of its frame');
      const b = buf[pos++];
      value += (b & 127) * scale;
      if (b < 128) {
        if (b === 0 && i > 0) throw corrupt('an overlong varint (trailing zero byte)');
        if (value > Number.MAX_SAFE_INTEGER) throw corrupt(`a varint of ${value} exceeds 2^53 - 1`);
        this.pos = pos;
        return value;
      }
      scale *= 128;
    }
    throw corrupt('a varint longer than 8 bytes');
  }

  /** Reads one byte. */
  u8(): number {
    if (this.pos >= this.end) throw corrupt('a field runs past the end of its frame');
    return this.buf[this.pos++];
  }

  /** Returns a view of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) throw corrupt(`a field of ${n} bytes runs past the end of its frame`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function corrupt(what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `corrupt frame: ${what}; the delta is damaged, fetch it again`);
}
