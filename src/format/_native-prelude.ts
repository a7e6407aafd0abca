import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { decodeHeaderBlock, HEADER_OVERHEAD } from './_header-block.js';
import { corrupt, overLimit, type ByteReader } from './_reader.js';
import { NATIVE_VERSION } from './native-magic.js';

/**
 * How both native streams start, read as bytes arrive: four magic bytes and the format version,
 * then a header block. Each function takes its part from `r` once all of it is there, and
 * otherwise takes nothing and says so; a wrong byte fails as soon as it arrives.
 */

/**
 * Takes the magic of a rolldelta `kind` ("delta", "signature") and the version after it: false
 * while fewer than five bytes are in. ERR_BAD_MAGIC for another file, ERR_UNSUPPORTED for another version.
 * @example
 * if (!takeMagicAndVersion(reader, NATIVE_DELTA_MAGIC, 'delta')) return; // wait for more
 */
export function takeMagicAndVersion(r: ByteReader, magic: Uint8Array, kind: string): boolean {
  const avail = r.available;
  for (let i = 0; i < magic.length && i < avail; i++) {
    if (r.peek(i) !== magic[i]) {
      const spelled = String.fromCharCode(...magic);
      throw new RolldeltaError(ErrorCode.BAD_MAGIC, `this is not a rolldelta ${kind} (it does not start with "${spelled}"); check which file was given`);
    }
  }
  if (avail < magic.length + 1) return false;
  const version = r.peek(magic.length);
  if (version !== NATIVE_VERSION) {
    throw new RolldeltaError(ErrorCode.UNSUPPORTED, `this ${kind} is format version ${version}; this build reads version ${NATIVE_VERSION}: upgrade rolldelta`);
  }
  r.bytes(magic.length + 1);
  return true;
}

/**
 * Takes the header block and returns its map and stream offset, or undefined while it is not all
 * in. Its length is checked against `maxHeaderBytes` before any wait, so a hostile length never
 * makes the reader buffer more than that.
 * @example
 * const block = takeHeaderBlock(reader, limits.maxHeaderBytes); if (!block) return;
 */
export function takeHeaderBlock(r: ByteReader, maxHeaderBytes: number): { map: Record<string, unknown>; at: number } | undefined {
  if (r.available < 4) return undefined;
  const n = r.peek(0) * 0x1000000 + (r.peek(1) << 16) + (r.peek(2) << 8) + r.peek(3);
  if (n === 0) throw corrupt('the header length is 0', r.offset);
  if (n > maxHeaderBytes) throw overLimit('the header length', n, 'maxHeaderBytes', maxHeaderBytes);
  if (r.available < n + HEADER_OVERHEAD) return undefined;
  const at = r.offset;
  return { map: decodeHeaderBlock(r.bytes(n + HEADER_OVERHEAD), at), at };
}
