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

/** The header as the msgpack map that goes on the wire (absent fields left out). */
export function deltaHeaderToMap(h: DeltaHeader): Record<string, unknown> {
  return {
    mode: h.mode,
    basisLength: h.basisLength,
    basisSha256: h.basisSha256,
    targetLength: h.targetLength,
    targetSha256: h.targetSha256,
    blockLength: h.blockLength,
    rollsum: h.rollsum,
    hash: h.hash,
    codec: h.codec,
    level: h.level,
  };
}

/**
 * Validates a decoded msgpack map as a DeltaHeader: wrong types are ERR_CORRUPT, unknown mode,
 * codec or algorithm names ERR_UNSUPPORTED, unknown keys ignored.
 */
export function deltaHeaderFromMap(map: Record<string, unknown>): DeltaHeader {
  const h: DeltaHeader = { mode: reqName(map, 'mode', MODES), codec: reqName(map, 'codec', CODECS) };
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
