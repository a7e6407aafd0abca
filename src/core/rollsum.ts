import type { RollingChecksum } from './rolling.js';

// rsync's rolling checksum as librsync computes it (rollsum.h), an Adler-32 variant without the
// prime modulus. Over a window x[0..n): with every byte offset by ROLLSUM_CHAR_OFFSET,
//   s1 = Σ (x_i + 31),  s2 = Σ (n − i)·(x_i + 31),  both mod 2^16;  digest = (s2 << 16) | s1.
// Rotate (drop `out`, append `in`):  s1 += in − out;  s2 += s1 − n·(out + 31).
// Roll out (drop `out`):             s1 −= out + 31;  s2 −= n·(out + 31);  n −= 1.
// s1 and s2 are kept as wrapping int32: only their low 16 bits matter, so masking waits for digest.

/** rsync's CHAR_OFFSET: added to every byte so that runs of zeros still move the sum. */
export const ROLLSUM_CHAR_OFFSET = 31;

/**
 * The rsync/librsync rolling checksum (signature magics 0x72730136 and 0x72730137).
 * @example
 * const r = new Rollsum(); r.update(block, 0, block.length);
 * r.rotate(block[0], next); r.digest();
 */
export class Rollsum implements RollingChecksum {
  readonly name = 'rollsum' as const;
  count = 0;
  s1 = 0;
  s2 = 0;

  reset(): void {
    this.count = 0;
    this.s1 = 0;
    this.s2 = 0;
  }

  update(data: Uint8Array, start: number, end: number): void {
    let s1 = this.s1, s2 = this.s2;
    for (let i = start; i < end; i++) {
      s1 = (s1 + data[i] + ROLLSUM_CHAR_OFFSET) | 0;
      s2 = (s2 + s1) | 0;
    }
    this.s1 = s1;
    this.s2 = s2;
    this.count += end - start;
  }

  rotate(outByte: number, inByte: number): void {
    const s1 = (this.s1 + inByte - outByte) | 0;
    this.s1 = s1;
    this.s2 = (this.s2 + s1 - Math.imul(this.count, outByte + ROLLSUM_CHAR_OFFSET)) | 0;
  }

  rollOut(outByte: number): void {
    this.s1 = (this.s1 - outByte - ROLLSUM_CHAR_OFFSET) | 0;
    this.s2 = (this.s2 - Math.imul(this.count, outByte + ROLLSUM_CHAR_OFFSET)) | 0;
    this.count--;
  }

  digest(): number {
    return (((this.s2 & 0xffff) << 16) | (this.s1 & 0xffff)) >>> 0;
  }
}

/**
 * The rsync rollsum of data[start, end) from scratch, without allocating.
 * @example
 * rollsumOf(new Uint8Array([0]), 0, 1); // 0x001f001f
 */
export function rollsumOf(data: Uint8Array, start: number, end: number): number {
  let s1 = 0, s2 = 0;
  for (let i = start; i < end; i++) {
    s1 = (s1 + data[i] + ROLLSUM_CHAR_OFFSET) | 0;
    s2 = (s2 + s1) | 0;
  }
  return (((s2 & 0xffff) << 16) | (s1 & 0xffff)) >>> 0;
}
