import type { RollsumName, StrongHashName } from '../core/params.js';
import { optDigest, optName, optUint, reqName } from './_header-block.js';

/**
 * What a native delta says about itself, before its first op: how it was made, and the identity
 * of the basis it expects (so patch can refuse a wrong basis before writing anything).
 */
export interface DeltaHeader {
  /** 'rsync': made from a signature; 'diff': made with both files at hand. */
  mode: 'rsync' | 'diff';
  basisLength?: number;
  basisSha256?: Uint8Array;
  targetLength?: number;
  targetSha256?: Uint8Array;
  /** Block length of the signature (rsync mode). */
  blockLength?: number;
  rollsum?: RollsumName;
  hash?: StrongHashName;
  /** How the frames' ops are compressed. */
  codec: 'deflate' | 'stored';
  /** Deflate level the encoder used (informational). */
  level?: number;
}

const MODES = ['rsync', 'diff'] as const;
const CODECS = ['deflate', 'stored'] as const;
const ROLLSUMS = ['rollsum', 'rabinkarp'] as const;
const HASHES = ['blake2b', 'md4', 'sha256'] as const;

/**
 * The one-letter keys the fields have on the wire: a delta of a small edit is a few hundred bytes,
 * and the full names alone took 60 of them.
 */
const WIRE_KEYS = {
  mode: 'm',
  codec: 'c',
  basisLength: 'b',
  basisSha256: 'B',
  targetLength: 't',
  targetSha256: 'T',
  blockLength: 'k',
  rollsum: 'r',
  hash: 'h',
  level: 'l',
} as const satisfies Record<keyof DeltaHeader, string>;

/** The header as the msgpack map that goes on the wire (absent fields, and codec 'deflate', left out). */
export function deltaHeaderToMap(h: DeltaHeader): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(WIRE_KEYS)) map[key] = h[name as keyof DeltaHeader];
  if (h.codec === 'deflate') map[WIRE_KEYS.codec] = undefined;
  return map;
}

/**
 * Validates a decoded msgpack map as a DeltaHeader: wrong types are ERR_CORRUPT, unknown mode,
 * codec or algorithm names ERR_UNSUPPORTED, unknown keys ignored; a missing codec is 'deflate'.
 */
export function deltaHeaderFromMap(wire: Record<string, unknown>): DeltaHeader {
  // Under the full names, so that errors name the field.
  const map: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(WIRE_KEYS)) map[name] = wire[key];
  const h: DeltaHeader = { mode: reqName(map, 'mode', MODES), codec: optName(map, 'codec', CODECS) ?? 'deflate' };
  const basisLength = optUint(map, 'basisLength');
  if (basisLength !== undefined) h.basisLength = basisLength;
  const basisSha256 = optDigest(map, 'basisSha256');
  if (basisSha256 !== undefined) h.basisSha256 = basisSha256;
  const targetLength = optUint(map, 'targetLength');
  if (targetLength !== undefined) h.targetLength = targetLength;
  const targetSha256 = optDigest(map, 'targetSha256');
  if (targetSha256 !== undefined) h.targetSha256 = targetSha256;
  const blockLength = optUint(map, 'blockLength');
  if (blockLength !== undefined) h.blockLength = blockLength;
  const rollsum = optName(map, 'rollsum', ROLLSUMS);
  if (rollsum !== undefined) h.rollsum = rollsum;
  const hash = optName(map, 'hash', HASHES);
  if (hash !== undefined) h.hash = hash;
  const level = optUint(map, 'level');
  if (level !== undefined) h.level = level;
  return h;
}
