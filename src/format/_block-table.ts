import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { StrongHashName } from '../core/params.js';
import { MAX_BLOCK_LENGTH } from '../core/block-size.js';
import { STRONG_MAX_LENGTH } from '../core/strong-hash.js';
import { overLimit } from './_reader.js';

/**
 * Growable weak/strong arrays for signature decoders. They grow by doubling as blocks arrive, so
 * memory follows the input actually received, never a count merely claimed by a header.
 */
export class BlockTable {
  weak: Uint32Array;
  strong: Uint8Array;
  private readonly strongLength: number;
  private readonly max: number;

  constructor(strongLength: number, max: number, hint: number) {
    this.strongLength = strongLength;
    this.max = max;
    const n = Math.max(1, Math.min(hint, 4096, max));
    this.weak = new Uint32Array(n);
    this.strong = new Uint8Array(n * strongLength);
  }

  /** Makes room for `blocks` blocks (<= max: the caller checked). */
  reserve(blocks: number): void {
    if (blocks <= this.weak.length) return;
    if (blocks > this.max) throw overLimit('the signature block count', blocks, 'maxSignatureBlocks', this.max);
    const n = Math.min(Math.max(blocks, this.weak.length * 2), this.max);
    const weak = new Uint32Array(n);
    weak.set(this.weak);
    this.weak = weak;
    const strong = new Uint8Array(n * this.strongLength);
    strong.set(this.strong);
    this.strong = strong;
  }

  /** Arrays of exactly `count` blocks (views when no slack, copies otherwise). */
  trimmed(count: number): { weak: Uint32Array; strong: Uint8Array } {
    const L = this.strongLength;
    if (count === this.weak.length) return { weak: this.weak, strong: this.strong };
    return { weak: this.weak.slice(0, count), strong: this.strong.slice(0, count * L) };
  }
}

/** Throws ERR_CORRUPT unless 1 <= strongLength <= the hash's digest length. */
export function checkStrongLength(strongLength: number, hash: StrongHashName, offset: number): void {
  const max = STRONG_MAX_LENGTH[hash];
  if (!(strongLength >= 1 && strongLength <= max)) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `the signature's strong sum length is ${strongLength} (at byte ${offset}), but ${hash} allows 1 to ${max}; the file is damaged`);
  }
}

/**
 * Throws unless a decoded block length is one the matcher can use: 0 is ERR_CORRUPT, above
 * MAX_BLOCK_LENGTH (16 MiB) ERR_UNSUPPORTED, here rather than later as a bad argument to delta().
 */
export function checkBlockLength(blockLength: number, offset: number): void {
  if (blockLength === 0) throw new RolldeltaError(ErrorCode.CORRUPT, `the signature's block length is 0 (at byte ${offset}); the file is damaged`);
  if (blockLength > MAX_BLOCK_LENGTH) {
    throw new RolldeltaError(ErrorCode.UNSUPPORTED, `the signature's block length is ${blockLength} (at byte ${offset}); this build handles blocks of up to ${MAX_BLOCK_LENGTH} bytes`);
  }
}
