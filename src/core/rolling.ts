import { ErrorCode, RolldeltaError } from './errors.js';
import type { RollsumName } from './params.js';
import { RabinKarp, rabinKarpOf } from './rabinkarp.js';
import { Rollsum, rollsumOf } from './rollsum.js';

/**
 * A weak checksum over a sliding window of bytes, updated in O(1) per byte slid.
 * Hot loops may inline the rotate math instead (see the constants in rollsum.ts and rabinkarp.ts).
 */
export interface RollingChecksum {
  readonly name: RollsumName;
  /** Bytes currently in the window. */
  readonly count: number;
  /** Empties the window. */
  reset(): void;
  /** Appends data[start,end) to the window. */
  update(data: Uint8Array, start: number, end: number): void;
  /** Slides the window one byte: drops `outByte` (the oldest) and appends `inByte`. */
  rotate(outByte: number, inByte: number): void;
  /** Drops the oldest byte `outByte` without appending (the window shrinks at the end of input). */
  rollOut(outByte: number): void;
  /** The current weak sum as a uint32. */
  digest(): number;
}

function unknownRollsum(name: unknown): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `unknown rolling checksum ${JSON.stringify(name)}; use 'rabinkarp' or 'rollsum'`);
}

/**
 * A fresh, empty rolling checksum of the given kind.
 * @example
 * const r = createRollingChecksum('rabinkarp');
 * r.update(data, 0, 2048);
 * for (let i = 2048; i < data.length; i++) { r.rotate(data[i - 2048], data[i]); r.digest(); }
 */
export function createRollingChecksum(name: RollsumName): RollingChecksum {
  if (name === 'rabinkarp') return new RabinKarp();
  if (name === 'rollsum') return new Rollsum();
  throw unknownRollsum(name);
}

/**
 * Weak sum of data[start,end) computed from scratch.
 * @example
 * weakSum('rollsum', new Uint8Array([0, 1, 2, 3])); // 0x01400082
 */
export function weakSum(name: RollsumName, data: Uint8Array, start = 0, end = data.length): number {
  if (name === 'rabinkarp') return rabinKarpOf(data, start, end);
  if (name === 'rollsum') return rollsumOf(data, start, end);
  throw unknownRollsum(name);
}
