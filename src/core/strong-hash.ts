import { Blake2b } from './blake2b.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import { Md4 } from './md4.js';
import type { StrongHashName } from './params.js';

/** Full digest length of each strong hash; a signature keeps a prefix of at most this many bytes. */
export const STRONG_MAX_LENGTH: Readonly<Record<StrongHashName, number>> = Object.freeze({
  blake2b: 32, // librsync uses BLAKE2b-256 (output length 32 in the parameter block)
  md4: 16,
});

/** Computes truncated strong sums of byte ranges; what signatures and the matcher call per block. */
export interface StrongSummer {
  readonly name: StrongHashName;
  /** Strong sum of data[start,end) truncated to `length` bytes, written at out[outOffset]. No allocation. */
  sumInto(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number, length: number): void;
}

/** The resettable incremental shape both strong hashes share. */
interface RangeHasher {
  reset(): unknown;
  updateRange(data: Uint8Array, start: number, end: number): unknown;
  digestInto(out: Uint8Array, offset: number): void;
}

/** One reused hasher and one reused digest buffer: nothing is allocated per sum. */
class TruncatingSummer implements StrongSummer {
  private readonly full: Uint8Array;
  constructor(
    readonly name: StrongHashName,
    private readonly hasher: RangeHasher,
    private readonly max: number,
  ) {
    this.full = new Uint8Array(max);
  }

  sumInto(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number, length: number): void {
    const max = this.max;
    if (!(length >= 0 && length <= max && outOffset >= 0 && outOffset + length <= out.length && start >= 0 && start <= end && end <= data.length)) {
      throw new RolldeltaError(
        ErrorCode.INVALID_ARGUMENT,
        `${this.name} sumInto got range [${start}, ${end}) of ${data.length} bytes, length ${length} (max ${max}) at ${outOffset} of ${out.length}; pass a range inside the data and room for the sum`,
      );
    }
    const h = this.hasher;
    const full = this.full;
    h.reset();
    h.updateRange(data, start, end);
    h.digestInto(full, 0);
    for (let i = 0; i < length; i++) out[outOffset + i] = full[i];
  }
}

/**
 * A strong summer for `name`: BLAKE2b-256 (librsync's) or MD4, truncated to the length asked.
 * Not shareable between concurrent users: it reuses one hasher.
 * @example
 * const s = createStrongSummer('blake2b');
 * s.sumInto(basis, 0, 2048, sig.strong, 0, 8); // first 8 bytes of BLAKE2b-256 of block 0
 */
export function createStrongSummer(name: StrongHashName): StrongSummer {
  if (name === 'blake2b') return new TruncatingSummer('blake2b', new Blake2b(32), 32);
  if (name === 'md4') return new TruncatingSummer('md4', new Md4(), 16);
  throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `unknown strong hash ${JSON.stringify(name)}; use 'blake2b' or 'md4'`);
}
