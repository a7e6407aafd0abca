import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import { readU32 } from './_reader.js';
import type { DecodeLimits } from './limits.js';
import { NativeDeltaDecoder, type NativeDeltaDecoderOptions } from './native-delta-decoder.js';
import { NATIVE_DELTA_MAGIC, NATIVE_SIGNATURE_MAGIC } from './native-magic.js';
import { NativeSignatureDecoder } from './native-signature.js';
import { RdiffDeltaDecoder } from './rdiff-delta-decoder.js';
import { RDIFF_DELTA_MAGIC, rdiffSignatureParams } from './rdiff-magic.js';
import { RdiffSignatureDecoder } from './rdiff-signature.js';

/** The wire formats rolldelta reads. */
export type FormatKind = 'native-delta' | 'native-signature' | 'rdiff-delta' | 'rdiff-signature';

function startsWith(a: Uint8Array, magic: Uint8Array): boolean {
  return a[0] === magic[0] && a[1] === magic[1] && a[2] === magic[2] && a[3] === magic[3];
}

/**
 * Names the format of a file from its first 4 bytes (or more); undefined when they match no
 * known magic or fewer than 4 bytes are given.
 * @example
 * detectFormat(bytes.subarray(0, 4)); // 'rdiff-signature' for 72 73 01 47
 */
export function detectFormat(firstBytes: Uint8Array): FormatKind | undefined {
  if (firstBytes.length < 4) return undefined;
  if (startsWith(firstBytes, NATIVE_DELTA_MAGIC)) return 'native-delta';
  if (startsWith(firstBytes, NATIVE_SIGNATURE_MAGIC)) return 'native-signature';
  const magic = readU32(firstBytes, 0);
  if (magic === RDIFF_DELTA_MAGIC) return 'rdiff-delta';
  if (rdiffSignatureParams(magic) !== undefined) return 'rdiff-signature';
  return undefined;
}

function refuse(firstBytes: Uint8Array, expected: string): never {
  if (firstBytes.length < 4) {
    throw new RolldeltaError(ErrorCode.TRUNCATED, `${expected} needs at least 4 bytes of magic, got ${firstBytes.length}; the file is truncated or empty`);
  }
  const kind = detectFormat(firstBytes);
  const found = kind ? `a ${kind.replace('-', ' ')}` : 'no known format';
  throw new RolldeltaError(ErrorCode.BAD_MAGIC, `expected ${expected}, found ${found}; check which file was given`);
}

/**
 * Picks the delta decoder (native or rdiff) for a delta starting with `firstBytes` (at least 4
 * bytes). It consumes nothing: push `firstBytes` to it as the first chunk.
 * @example
 * const dec = createDeltaDecoder(head, sink);
 * dec.push(head); dec.push(rest, true);
 */
export function createDeltaDecoder(
  firstBytes: Uint8Array,
  sink: OpSink,
  opts: NativeDeltaDecoderOptions = {},
): NativeDeltaDecoder | RdiffDeltaDecoder {
  const kind = detectFormat(firstBytes);
  if (kind === 'native-delta') return new NativeDeltaDecoder(sink, opts);
  if (kind === 'rdiff-delta') return new RdiffDeltaDecoder(sink, { limits: opts.limits });
  return refuse(firstBytes, 'a delta (rolldelta or rdiff)');
}

/**
 * Picks the signature decoder (native or rdiff) for a signature starting with `firstBytes` (at
 * least 4 bytes). It consumes nothing: push `firstBytes` to it as the first chunk.
 * @example
 * const dec = createSignatureDecoder(head);
 * dec.push(head); dec.push(rest, true);
 * const sig = dec.result();
 */
export function createSignatureDecoder(
  firstBytes: Uint8Array,
  opts: { limits?: Partial<DecodeLimits> } = {},
): NativeSignatureDecoder | RdiffSignatureDecoder {
  const kind = detectFormat(firstBytes);
  if (kind === 'native-signature') return new NativeSignatureDecoder(opts);
  if (kind === 'rdiff-signature') return new RdiffSignatureDecoder(opts);
  return refuse(firstBytes, 'a signature (rolldelta or rdiff)');
}
