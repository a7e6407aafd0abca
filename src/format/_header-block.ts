import { decode, encode } from '@msgpack/msgpack';
import { copyBytes } from '../core/bytes.js';
import { crc32 } from '../core/crc32.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { readU32, writeU32 } from './_reader.js';

/**
 * The header block both native formats share: `u32 BE length | msgpack map | u32 BE crc32`, the
 * CRC covering the length field and the map. Helpers here read typed fields out of the decoded
 * map: a wrong type is ERR_CORRUPT, unknown keys are ignored (forward compatible).
 */

/** Bytes a header block adds around its map: the length and the CRC. */
export const HEADER_OVERHEAD = 8;

/** Encodes `map` (undefined values dropped) as magic-less header block bytes. */
export function encodeHeaderBlock(map: Record<string, unknown>): Uint8Array {
  const body = encode(map, { ignoreUndefined: true });
  const out = new Uint8Array(body.length + HEADER_OVERHEAD);
  writeU32(out, 0, body.length);
  out.set(body, 4);
  writeU32(out, 4 + body.length, crc32(out.subarray(0, 4 + body.length)));
  return out;
}

/** msgpack caps for a header: a delta's dozen short fields by default; image deltas pass larger ones. */
export interface HeaderCaps {
  maxStrLength: number;
  maxBinLength: number;
  maxArrayLength: number;
  maxMapLength: number;
}

const SMALL_CAPS: HeaderCaps = { maxStrLength: 256, maxBinLength: 256, maxArrayLength: 64, maxMapLength: 64 };

/**
 * Checks the CRC of a complete header block (`length` field included) and decodes its map.
 * `block` is `u32 length | map | u32 crc`.
 */
export function decodeHeaderBlock(block: Uint8Array, offset: number, caps: HeaderCaps = SMALL_CAPS): Record<string, unknown> {
  const n = block.length - 4;
  if (crc32(block.subarray(0, n)) !== readU32(block, n)) {
    throw new RolldeltaError(ErrorCode.CHECKSUM, `the header's CRC32 (at byte ${offset + n}) does not match its contents; the file is damaged, fetch it again`);
  }
  let value: unknown;
  try {
    // Caps bound every allocation a hostile header could ask for.
    value = decode(block.subarray(4, n), { ...caps, maxExtLength: 64 });
  } catch (e) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `the header is not valid msgpack (${(e as Error).message}); the file is damaged`, { cause: e });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new RolldeltaError(ErrorCode.CORRUPT, 'the header is not a msgpack map; the file is damaged');
  }
  return value as Record<string, unknown>;
}

function wrongType(key: string, expected: string, v: unknown): RolldeltaError {
  const found = v instanceof Uint8Array ? `${v.length} bytes` : JSON.stringify(v) ?? typeof v;
  return new RolldeltaError(ErrorCode.CORRUPT, `header field "${key}" must be ${expected}, found ${found}; the file is damaged or not from rolldelta`);
}

/** A non-negative safe integer field, or undefined when absent. */
export function optUint(map: Record<string, unknown>, key: string): number | undefined {
  const v = map[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw wrongType(key, 'a non-negative integer', v);
  return v;
}

/** A required non-negative safe integer field. */
export function reqUint(map: Record<string, unknown>, key: string): number {
  const v = optUint(map, key);
  if (v === undefined) throw new RolldeltaError(ErrorCode.CORRUPT, `header field "${key}" is missing; the file is damaged or not from rolldelta`);
  return v;
}

/** A 32-byte digest field, or undefined when absent. */
export function optDigest(map: Record<string, unknown>, key: string): Uint8Array | undefined {
  const v = map[key];
  if (v === undefined || v === null) return undefined;
  if (!(v instanceof Uint8Array) || v.length !== 32) throw wrongType(key, 'a 32-byte binary', v);
  return copyBytes(v);
}

/** A string field that must be one of `allowed` (unknown names: ERR_UNSUPPORTED), or undefined. */
export function optName<T extends string>(map: Record<string, unknown>, key: string, allowed: readonly T[]): T | undefined {
  const v = map[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw wrongType(key, 'a string', v);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new RolldeltaError(ErrorCode.UNSUPPORTED, `header field "${key}" is "${v.slice(0, 40)}", which this version does not support (known: ${allowed.join(', ')}); upgrade rolldelta`);
  }
  return v as T;
}

/** A required name field. */
export function reqName<T extends string>(map: Record<string, unknown>, key: string, allowed: readonly T[]): T {
  const v = optName(map, key, allowed);
  if (v === undefined) throw new RolldeltaError(ErrorCode.CORRUPT, `header field "${key}" is missing; the file is damaged or not from rolldelta`);
  return v;
}
