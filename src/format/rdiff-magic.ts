import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { RollsumName, StrongHashName } from '../core/params.js';

/** librsync delta magic ("rs\x026"). */
export const RDIFF_DELTA_MAGIC = 0x72730236;

/** Opcodes of the librsync delta format (the decoder needs them without the encoder). */
export const RS_OP_END = 0x00;
export const RS_OP_LITERAL_N1 = 0x41;
export const RS_OP_COPY = 0x45;

/** librsync signature magics: high nibble of the low byte picks the rollsum, low nibble the hash. */
export const RDIFF_SIG_ROLLSUM_MD4 = 0x72730136;
export const RDIFF_SIG_ROLLSUM_BLAKE2 = 0x72730137;
export const RDIFF_SIG_RABINKARP_MD4 = 0x72730146;
export const RDIFF_SIG_RABINKARP_BLAKE2 = 0x72730147;

/**
 * The librsync signature magic for a rollsum and strong hash.
 * @example
 * rdiffSignatureMagic('rabinkarp', 'blake2b'); // 0x72730147, rdiff's default
 */
export function rdiffSignatureMagic(rollsum: RollsumName, hash: StrongHashName): number {
  if (hash === 'sha256') {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, "the rdiff format supports the blake2b and md4 strong hashes, not sha256; make the signature with hash 'blake2b' (--hash blake2)");
  }
  return (0x72730100 | (rollsum === 'rabinkarp' ? 0x40 : 0x30) | (hash === 'blake2b' ? 7 : 6)) >>> 0;
}

/**
 * The rollsum and hash a librsync signature magic stands for, or undefined for any other number.
 * @example
 * rdiffSignatureParams(0x72730136); // { rollsum: 'rollsum', hash: 'md4' }
 */
export function rdiffSignatureParams(magic: number): { rollsum: RollsumName; hash: StrongHashName } | undefined {
  switch (magic >>> 0) {
    case RDIFF_SIG_ROLLSUM_MD4:
      return { rollsum: 'rollsum', hash: 'md4' };
    case RDIFF_SIG_ROLLSUM_BLAKE2:
      return { rollsum: 'rollsum', hash: 'blake2b' };
    case RDIFF_SIG_RABINKARP_MD4:
      return { rollsum: 'rabinkarp', hash: 'md4' };
    case RDIFF_SIG_RABINKARP_BLAKE2:
      return { rollsum: 'rabinkarp', hash: 'blake2b' };
    default:
      return undefined;
  }
}
