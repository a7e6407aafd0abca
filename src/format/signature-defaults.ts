import { defaultBlockLength, resolveSignatureParams } from '../core/block-size.js';
import type { SignatureParams } from '../core/params.js';
import { defaultHashFor, wireFormatOf, type SignatureOptions, type WireFormat } from './operations-options.js';

/** Largest block length a native signature picks by itself (a caller may still ask for more). */
export const NATIVE_DEFAULT_BLOCK_CAP = 8192;

/**
 * The block length a signature of `size` bytes gets when none is asked for: rdiff's (about √size)
 * for the rdiff format; the same capped at 8 KiB for the native one. Why the cap: the edits of a
 * real update grow with the file, and each costs up to two blocks of literals, so with √size blocks
 * the delta grows as size^1.5; a fixed length keeps signature plus delta linear (1 GiB, 1% edited
 * in scattered spots: a 50 MB delta and a 4.7 MB signature with 8 KiB blocks, 168 MB and 1.2 MB
 * with rdiff's 32 KiB, and the delta is made in 58% of the time).
 * @example
 * defaultBlockLengthFor('native', 2 ** 30); // 8192
 * defaultBlockLengthFor('rdiff', 2 ** 30);  // 32768
 */
export function defaultBlockLengthFor(format: WireFormat, size?: number): number {
  const rdiffs = defaultBlockLength(size);
  return format === 'rdiff' ? rdiffs : Math.min(rdiffs, NATIVE_DEFAULT_BLOCK_CAP);
}

/**
 * Full, validated signature parameters for a basis of `size` bytes (undefined for a stream of
 * unknown length) with the defaults of `opts.format` (native when unset) for whatever is left out.
 * @example
 * resolveFormatParams(2 ** 30, { format: 'rdiff' }); // { blockLength: 32768, strongLength: 32, rollsum: 'rabinkarp', hash: 'blake2b' }
 */
export function resolveFormatParams(size: number | undefined, opts: SignatureOptions): SignatureParams {
  const format = wireFormatOf(opts.format);
  return resolveSignatureParams(size, {
    ...opts,
    blockLength: opts.blockLength ?? defaultBlockLengthFor(format, size),
    hash: opts.hash ?? defaultHashFor(format),
  });
}
