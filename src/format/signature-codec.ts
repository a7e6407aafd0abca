import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Signature } from '../core/params.js';
import { describeFormat, detectFormat } from './detect.js';
import type { DecodeLimits } from './limits.js';
import { decodeNativeSignature, encodeNativeSignature } from './native-signature.js';
import type { WireFormat } from './operations-options.js';
import { decodeRdiffSignature, encodeRdiffSignature } from './rdiff-signature.js';

/**
 * Encodes a signature in the native or the rdiff format.
 * @example
 * const bytes = encodeSignature(sig, 'rdiff'); // readable by `rdiff delta`
 */
export function encodeSignature(sig: Signature, format: WireFormat): Uint8Array {
  return format === 'rdiff' ? encodeRdiffSignature(sig) : encodeNativeSignature(sig);
}

/**
 * Decodes a signature of either format, chosen by its magic.
 * @example
 * const sig = decodeSignature(await readFile('old.sig'));
 */
export function decodeSignature(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Signature {
  const kind = detectFormat(bytes);
  if (kind === 'native-signature') return decodeNativeSignature(bytes, limits);
  if (kind === 'rdiff-signature') return decodeRdiffSignature(bytes, limits);
  if (bytes.length < 4) {
    throw new RolldeltaError(ErrorCode.TRUNCATED, `a signature needs at least 4 bytes of magic, got ${bytes.length}; the file is truncated or empty`);
  }
  throw new RolldeltaError(ErrorCode.BAD_MAGIC, `expected a signature (rolldelta or rdiff), but this is ${describeFormat(kind)}; check the order of the arguments`);
}
