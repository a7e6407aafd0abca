/**
 * librsync delta files: `u32 0x72730236`, then commands, ending with END (0x00):
 *   0x01-0x40  LITERAL_1..64, the length is the opcode, data follows
 *   0x41-0x44  LITERAL_N1/N2/N4/N8: length in 1/2/4/8 bytes, then data
 *   0x45-0x54  COPY: op = 0x45 + 4 * w(offset) + w(length) with w = 0,1,2,3 for 1,2,4,8 bytes;
 *              then offset, then length (big-endian, smallest width that fits)
 * No checksum: the target is verified by other means.
 */
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import { writeU32 } from './_reader.js';
import { RDIFF_DELTA_MAGIC, RS_OP_COPY, RS_OP_END, RS_OP_LITERAL_N1 } from './rdiff-magic.js';

/** Largest literal one command carries; longer literals are cut (rdiff cuts at 65533). */
const MAX_LITERAL = 0xffff;
/** Output is handed on in chunks of about this size. */
const OUT_CHUNK = 1 << 16;

/** Width code (0-3 for 1, 2, 4, 8 bytes) of the smallest big-endian field that holds `v`. */
export function rdiffWidthCode(v: number): number {
  return v <= 0xff ? 0 : v <= 0xffff ? 1 : v <= 0xffffffff ? 2 : 3;
}

/**
 * Writes ops as a librsync (rdiff) delta through `ondata`, in chunks of about 64 KiB (each a
 * fresh array). Adjacent copies are merged; literals use LITERAL_1..64 up to 64 bytes, else
 * LITERAL_N1/N2 in commands of at most 65535 bytes.
 * @example
 * const enc = new RdiffDeltaEncoder((c) => out.push(c));
 * enc.literal(new TextEncoder().encode('abc')); enc.finish();
 * // out: 72 73 02 36 03 61 62 63 00
 */
export class RdiffDeltaEncoder implements OpSink {
  private readonly ondata: (chunk: Uint8Array) => void;
  private out = new Uint8Array(OUT_CHUNK + MAX_LITERAL + 32);
  private outLen = 4;
  private readonly lit = new Uint8Array(MAX_LITERAL);
  private litLen = 0;
  private copyOffset = 0;
  private copyLength = 0;
  private done = false;

  constructor(ondata: (chunk: Uint8Array) => void) {
    this.ondata = ondata;
    writeU32(this.out, 0, RDIFF_DELTA_MAGIC);
  }

  copy(offset: number, length: number): void {
    this.checkOpen();
    if (length === 0) return;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || !Number.isSafeInteger(offset + length)) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `copy(${offset}, ${length}): offset and length must be non-negative safe integers`);
    }
    if (this.copyLength > 0 && this.copyOffset + this.copyLength === offset) {
      this.copyLength += length;
      return;
    }
    this.flushCopy();
    this.flushLiteral();
    this.copyOffset = offset;
    this.copyLength = length;
  }

  literal(data: Uint8Array): void {
    this.checkOpen();
    const n = data.length;
    if (n === 0) return;
    this.flushCopy();
    let i = 0;
    while (i < n) {
      const take = Math.min(n - i, MAX_LITERAL - this.litLen);
      this.lit.set(data.subarray(i, i + take), this.litLen);
      this.litLen += take;
      i += take;
      if (this.litLen === MAX_LITERAL) this.flushLiteral();
    }
  }

  /** Writes the pending command, END, and hands on the rest of the output. */
  finish(): void {
    this.checkOpen();
    this.flushCopy();
    this.flushLiteral();
    this.out[this.outLen++] = RS_OP_END;
    this.flushOut();
    this.done = true;
  }

  private checkOpen(): void {
    if (this.done) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'the encoder is finished; create a new one for another delta');
  }

  private flushCopy(): void {
    const length = this.copyLength;
    if (length === 0) return;
    const wo = rdiffWidthCode(this.copyOffset);
    const wl = rdiffWidthCode(length);
    const out = this.out;
    let p = this.outLen;
    out[p++] = RS_OP_COPY + 4 * wo + wl;
    p = writeInt(out, p, this.copyOffset, wo);
    p = writeInt(out, p, length, wl);
    this.outLen = p;
    this.copyLength = 0;
    if (p >= OUT_CHUNK) this.flushOut();
  }

  private flushLiteral(): void {
    const n = this.litLen;
    if (n === 0) return;
    const out = this.out;
    let p = this.outLen;
    if (n <= 64) {
      out[p++] = n;
    } else {
      const w = rdiffWidthCode(n);
      out[p++] = RS_OP_LITERAL_N1 + w;
      p = writeInt(out, p, n, w);
    }
    out.set(this.lit.subarray(0, n), p);
    this.outLen = p + n;
    this.litLen = 0;
    if (this.outLen >= OUT_CHUNK) this.flushOut();
  }

  private flushOut(): void {
    if (this.outLen === 0) return;
    this.ondata(this.out.slice(0, this.outLen));
    this.outLen = 0;
  }
}

/** Writes `v` big-endian in 1, 2, 4 or 8 bytes (width code 0-3); returns the end position. */
function writeInt(out: Uint8Array, p: number, v: number, w: number): number {
  if (w === 0) {
    out[p] = v;
    return p + 1;
  }
  if (w === 1) {
    out[p] = v >>> 8;
    out[p + 1] = v;
    return p + 2;
  }
  if (w === 2) {
    writeU32(out, p, v);
    return p + 4;
  }
  writeU32(out, p, Math.floor(v / 0x100000000));
  writeU32(out, p + 4, v >>> 0);
  return p + 8;
}
