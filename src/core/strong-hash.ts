import { Blake2b } from './blake2b.js';
import type { HasherFactory } from './hash.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import { Md4 } from './md4.js';
import type { StrongHashName } from './params.js';
import { Sha256 } from './sha256.js';

/** Full digest length of each strong hash; a signature keeps a prefix of at most this many bytes. */
export const STRONG_MAX_LENGTH: Readonly<Record<StrongHashName, number>> = Object.freeze({
  blake2b: 32, // librsync uses BLAKE2b-256 (output length 32 in the parameter block)
  md4: 16,
  sha256: 32,
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
 * A HasherFactory that can also hash one array in a single call and write a prefix of the digest
 * into a caller's array, as node:crypto's `crypto.hash` can: per block that skips a hasher object
 * and a digest Buffer (2 KiB blocks: createHash 670 MB/s, crypto.hash to a Buffer 920 MB/s, to a
 * latin1 string 1070 MB/s; 8 KiB blocks: 1340, 1210, 1570 MB/s; measured).
 * @example
 * const f: OneShotHasherFactory = Object.assign(() => new Sha256(), {
 *   digestPrefixInto: (data, out, offset, length) => out.set(sha256(data).subarray(0, length), offset),
 * });
 */
export type OneShotHasherFactory = HasherFactory & {
  /** Writes the first `length` (at most the digest's) bytes of the digest of `data` at out[offset]. */
  readonly digestPrefixInto?: (data: Uint8Array, out: Uint8Array, offset: number, length: number) => void;
};

/**
 * SHA-256 through an injected factory (node:crypto at the Node edge): its one-shot digest when it
 * has one, else one fresh hasher per sum, which costs far less than a pure-TS digest of a block.
 */
class FactorySummer implements StrongSummer {
  readonly name = 'sha256';
  private readonly digestPrefixInto: (data: Uint8Array, out: Uint8Array, offset: number, length: number) => void;
  constructor(factory: OneShotHasherFactory) {
    this.digestPrefixInto =
      typeof factory.digestPrefixInto === 'function'
        ? factory.digestPrefixInto
        : (data, out, offset, length) => {
            const full = factory().update(data).digest();
            for (let i = 0; i < length; i++) out[offset + i] = full[i];
          };
  }

  sumInto(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number, length: number): void {
    if (!(length >= 0 && length <= 32 && outOffset >= 0 && outOffset + length <= out.length && start >= 0 && start <= end && end <= data.length)) {
      throw new RolldeltaError(
        ErrorCode.INVALID_ARGUMENT,
        `sha256 sumInto got range [${start}, ${end}) of ${data.length} bytes, length ${length} (max 32) at ${outOffset} of ${out.length}; pass a range inside the data and room for the sum`,
      );
    }
    this.digestPrefixInto(data.subarray(start, end), out, outOffset, length);
  }
}

/**
 * A strong summer for `name`: BLAKE2b-256 (librsync's), MD4 or SHA-256, truncated to the length
 * asked. `opts.sha256` supplies a faster SHA-256 (node:crypto) than the pure-TS one.
 * Not shareable between concurrent users: it reuses one hasher.
 * @example
 * const s = createStrongSummer('blake2b');
 * s.sumInto(basis, 0, 2048, sig.strong, 0, 8); // first 8 bytes of BLAKE2b-256 of block 0
 */
export function createStrongSummer(name: StrongHashName, opts: { sha256?: OneShotHasherFactory } = {}): StrongSummer {
  if (name === 'blake2b') return new TruncatingSummer('blake2b', new Blake2b(32), 32);
  if (name === 'md4') return new TruncatingSummer('md4', new Md4(), 16);
  if (name === 'sha256') return opts.sha256 ? new FactorySummer(opts.sha256) : new TruncatingSummer('sha256', new Sha256(), 32);
  throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `unknown strong hash ${JSON.stringify(name)}; use 'blake2b', 'md4' or 'sha256'`);
}
