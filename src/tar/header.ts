import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { parseNumeric } from './_numeric.js';
import { cString, cStringBytes, decodeText } from './_text.js';

/** Size of every tar block. */
export const BLOCK = 512;

/** The header layouts this reader tells apart (by magic, as Go's archive/tar does). */
export type TarHeaderFormat = 'v7' | 'ustar' | 'gnu' | 'star';

/** The fields of one 512-byte header block, before pax or GNU long names are applied. */
export interface TarHeader {
  format: TarHeaderFormat;
  /** ustar prefix + '/' + name when there is a prefix, else the name field. */
  name: string;
  linkname: string;
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  /** The size field (content bytes, or extended-header bytes for L/K/x/g). */
  size: number;
  mtime: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Old-GNU sparse: more sparse-map blocks follow this header. */
  isExtended: boolean;
}

/**
 * True when the 512 bytes at `off` are all zero (the end-of-archive marker).
 * @example
 * isZeroBlock(new Uint8Array(512)); // true
 */
export function isZeroBlock(b: Uint8Array, off = 0): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * True when `b` (the first 512 bytes of a file, or all of a shorter one) can begin a tar archive:
 * the end marker, a header with the ustar magic (right checksum or not), or a v7 header with a
 * right checksum. False means the file is some other kind of file, not a damaged tar.
 * @example
 * looksLikeTarStart(await file.read(0, 512)); // false for a PNG, a gzip file or a delta
 */
export function looksLikeTarStart(b: Uint8Array): boolean {
  if (b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72) return true; // "ustar"
  if (b.length < BLOCK) return false;
  if (isZeroBlock(b)) return true;
  try {
    verifyChecksum(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses one header block (ustar, GNU, v7, star), checking its checksum first.
 * Throws ERR_CHECKSUM when the stored sum matches neither the unsigned nor the signed byte sum (GNU
 * tar accepts both), ERR_CORRUPT on non-numeric numeric fields.
 * @example
 * const h = parseHeader(archive.subarray(0, 512)); // { name: 'hello.txt', size: 5, ... }
 */
export function parseHeader(b: Uint8Array): TarHeader {
  if (b.length !== BLOCK) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a tar header is exactly 512 bytes, got ${b.length}`);
  }
  verifyChecksum(b);
  const format = formatOf(b);
  const typeflag = b[156];
  let name = cString(b, 0, 100);
  const modern = format !== 'v7';
  if (format === 'ustar' || format === 'star') {
    const prefix = cStringBytes(b, 345, format === 'star' ? 131 : 155);
    if (prefix.length > 0) name = decodeText(prefix) + '/' + name;
  }
  const isGnuSparse = format === 'gnu' && typeflag === 0x53; // 'S'
  return {
    format,
    name,
    linkname: cString(b, 157, 100),
    typeflag,
    mode: parseNumeric(b, 100, 8, 'mode'),
    uid: parseNumeric(b, 108, 8, 'uid'),
    gid: parseNumeric(b, 116, 8, 'gid'),
    size: parseSize(b),
    mtime: parseNumeric(b, 136, 12, 'mtime'),
    uname: modern ? cString(b, 265, 32) : '',
    gname: modern ? cString(b, 297, 32) : '',
    devmajor: modern ? parseNumeric(b, 329, 8, 'devmajor') : 0,
    devminor: modern ? parseNumeric(b, 337, 8, 'devminor') : 0,
    isExtended: isGnuSparse && b[482] !== 0,
  };
}

function parseSize(b: Uint8Array): number {
  const size = parseNumeric(b, 124, 12, 'size');
  if (size < 0) throw new RolldeltaError(ErrorCode.CORRUPT, `tar header size field is negative (${size}); the archive is corrupt`);
  return size;
}

function formatOf(b: Uint8Array): TarHeaderFormat {
  // "ustar\0" + "00" is POSIX; "ustar " + " \0" is GNU; star adds "tar\0" at the block's end.
  if (b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72) {
    if (b[262] === 0 && b[263] === 0x30 && b[264] === 0x30) {
      return b[508] === 0x74 && b[509] === 0x61 && b[510] === 0x72 && b[511] === 0 ? 'star' : 'ustar';
    }
    if (b[262] === 0x20 && b[263] === 0x20 && b[264] === 0) return 'gnu';
  }
  return 'v7';
}

/**
 * Throws ERR_CHECKSUM unless the stored checksum matches the unsigned or the signed sum.
 * @example
 * verifyChecksum(archive.subarray(0, 512));
 */
export function verifyChecksum(b: Uint8Array): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]; // the checksum field counts as spaces
    unsigned += c;
    signed += c < 128 ? c : c - 256;
  }
  let stored: number;
  try {
    stored = parseNumeric(b, 148, 8, 'checksum');
  } catch {
    throw new RolldeltaError(ErrorCode.CHECKSUM, 'tar header checksum field is not an octal number: this is not a tar header (corrupt archive or not a tar)');
  }
  if (stored !== unsigned && stored !== signed) {
    throw new RolldeltaError(
      ErrorCode.CHECKSUM,
      `tar header checksum mismatch: stored ${stored}, computed ${unsigned} (signed ${signed}); the archive is corrupt or not a tar`,
    );
  }
}

/**
 * Stores the checksum Go and GNU tar write: six octal digits, NUL, space.
 * @example
 * block[156] = 0x35; writeChecksum(block); // after editing a header field
 */
export function writeChecksum(b: Uint8Array): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  let v = sum;
  for (let i = 153; i >= 148; i--) {
    b[i] = 0x30 + (v & 7);
    v >>>= 3;
  }
  b[154] = 0;
  b[155] = 0x20;
}
