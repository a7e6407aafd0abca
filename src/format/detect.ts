import { readU32 } from './_reader.js';
import { NATIVE_DELTA_MAGIC, NATIVE_IMAGE_DELTA_MAGIC, NATIVE_SIGNATURE_MAGIC } from './native-magic.js';
import { RDIFF_DELTA_MAGIC, rdiffSignatureParams } from './rdiff-magic.js';

/** The wire formats rolldelta reads. */
export type FormatKind = 'native-delta' | 'native-signature' | 'rdiff-delta' | 'rdiff-signature' | 'image-delta';

const DESCRIPTIONS: Readonly<Record<FormatKind, string>> = {
  'native-delta': 'a native delta file',
  'native-signature': 'a native signature file',
  'rdiff-delta': 'an rdiff delta file',
  'rdiff-signature': 'an rdiff signature file',
  'image-delta': 'an image delta file',
};

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
  if (startsWith(firstBytes, NATIVE_IMAGE_DELTA_MAGIC)) return 'image-delta';
  const magic = readU32(firstBytes, 0);
  if (magic === RDIFF_DELTA_MAGIC) return 'rdiff-delta';
  if (rdiffSignatureParams(magic) !== undefined) return 'rdiff-signature';
  return undefined;
}

/**
 * What a detected format is called in messages ("but this is an rdiff signature file").
 * @example
 * describeFormat(detectFormat(bytes)); // 'an image delta file', or 'an unknown format'
 */
export function describeFormat(kind: FormatKind | undefined): string {
  return kind === undefined ? 'an unknown format' : DESCRIPTIONS[kind];
}
