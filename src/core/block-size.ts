import { ErrorCode, RolldeltaError } from './errors.js';
import type { RollsumName, SignatureParams, StrongHashName } from './params.js';
import { STRONG_MAX_LENGTH } from './strong-hash.js';

/** rdiff's block length when the basis size is not known in advance (librsync RS_DEFAULT_BLOCK_LEN). */
export const DEFAULT_BLOCK_LENGTH = 2048;

/**
 * Largest block length rolldelta accepts (16 MiB). rdiff sets no bound of its own; this one keeps the
 * matcher's window, and its buffer, a few MiB at most. rdiff's own choice reaches it only for bases
 * over 256 TiB.
 */
export const MAX_BLOCK_LENGTH = 1 << 24;

/** librsync's minimum strong length when the basis size is unknown (RS_DEFAULT_MIN_STRONG_LEN). */
const UNKNOWN_SIZE_MIN_STRONG = 12;

/**
 * The block length rdiff picks for a basis of `size` bytes: 256 up to 64 KiB, then √size rounded
 * down to a multiple of 128 (BLAKE2b's block), 2048 when the size is unknown.
 * @example
 * defaultBlockLength(1_000_000); // 896
 * defaultBlockLength();          // 2048
 */
export function defaultBlockLength(size?: number): number {
  if (size === undefined) return DEFAULT_BLOCK_LENGTH;
  checkSize(size);
  if (size <= 65536) return 256;
  return Math.min(isqrt(size) & ~127, MAX_BLOCK_LENGTH);
}

/**
 * The smallest strong-sum length (bytes) that rdiff's `-S -1` picks for a basis of `size` bytes cut
 * in `blockLength` blocks: `2 + (log2(size + 2^24) + log2(size / blockLength + 1) + 7) / 8`, with
 * integer logs and division.
 *
 * Why it is safe: a false match needs a target window and a basis block of different contents with
 * the same weak sum (32 bits) and the same `s`-byte strong prefix. The matcher compares strong sums
 * only on weak hits and at most `cap` times per target position (BlockIndex's MAX_CANDIDATES), so with T target
 * positions and B blocks the expected number of false matches is at most
 * `T * min(B, cap) * 2^-(8s)` even when the weak sum is worth nothing (inputs crafted against it),
 * and `T * B * 2^-(32 + 8s)` when it behaves like a random 32-bit value. With T ≈ size + 2^24 and
 * B = size / blockLength + 1, the formula gives `8s >= 16 + log2 T + log2 B`, so the first bound is
 * below 2^-16 per delta (a target about as large as the basis), and the second below 2^-48.
 * An MD4 prefix gives no such guarantee against an adversary who controls part of the basis and the
 * target (MD4 collisions are cheap); BLAKE2b does.
 * @example
 * minStrongLength(1_000_000, 896); // 7
 */
export function minStrongLength(size: number, blockLength: number): number {
  checkSize(size);
  checkBlockLength(blockLength);
  return 2 + (((ilog2(size + 2 ** 24) + ilog2(Math.floor(size / blockLength) + 1) + 7) / 8) | 0);
}

/** Options that pick a signature's parameters; anything left out gets rdiff's default. */
export interface SignatureParamOptions {
  /** Bytes per block, 1..MAX_BLOCK_LENGTH; default {@link defaultBlockLength}. */
  blockLength?: number;
  /** Bytes of each strong sum, 1..the hash's length; default the full length; -1 the safe minimum. */
  strongLength?: number;
  /** Default 'rabinkarp' (rdiff's default). */
  rollsum?: RollsumName;
  /** Default 'blake2b' (rdiff's default). */
  hash?: StrongHashName;
}

/**
 * Full, validated signature parameters for a basis of `size` bytes (undefined when unknown, as for
 * a stream), defaults as rdiff's. Throws ERR_INVALID_ARGUMENT on an out-of-range option.
 * @example
 * resolveSignatureParams(1_000_000, {});
 * // { blockLength: 896, strongLength: 32, rollsum: 'rabinkarp', hash: 'blake2b' }
 * resolveSignatureParams(1_000_000, { strongLength: -1, hash: 'md4' }).strongLength; // 7
 */
export function resolveSignatureParams(size: number | undefined, opts: SignatureParamOptions = {}): SignatureParams {
  const rollsum = opts.rollsum ?? 'rabinkarp';
  const hash = opts.hash ?? 'blake2b';
  checkNames(rollsum, hash);
  const blockLength = opts.blockLength ?? defaultBlockLength(size);
  checkBlockLength(blockLength);
  const max = STRONG_MAX_LENGTH[hash];
  let strongLength = opts.strongLength ?? max;
  if (strongLength === -1) {
    strongLength = size === undefined ? UNKNOWN_SIZE_MIN_STRONG : Math.min(max, minStrongLength(size, blockLength));
  }
  checkStrongLength(strongLength, hash);
  return { blockLength, strongLength, rollsum, hash };
}

/**
 * Throws ERR_INVALID_ARGUMENT unless `p` holds parameters a signature can have (hand-made and
 * decoded objects are checked before use).
 * @example
 * checkSignatureParams({ blockLength: 0, strongLength: 8, rollsum: 'rabinkarp', hash: 'md4' }); // throws
 */
export function checkSignatureParams(p: SignatureParams): void {
  if (p === null || typeof p !== 'object') throw invalid(`signature parameters must be an object, got ${p === null ? 'null' : typeof p}`);
  checkNames(p.rollsum, p.hash);
  checkBlockLength(p.blockLength);
  checkStrongLength(p.strongLength, p.hash);
}

/**
 * Throws ERR_INVALID_ARGUMENT unless `n` is a block length rolldelta accepts.
 * @example
 * checkBlockLength(2048); // ok
 */
export function checkBlockLength(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_BLOCK_LENGTH) {
    throw invalid(`blockLength must be an integer from 1 to ${MAX_BLOCK_LENGTH}, got ${n}`);
  }
}

/**
 * Throws ERR_INVALID_ARGUMENT unless `n` is a strong-sum length `hash` can give.
 * @example
 * checkStrongLength(33, 'blake2b'); // throws: at most 32
 */
export function checkStrongLength(n: number, hash: StrongHashName): void {
  const max = STRONG_MAX_LENGTH[hash];
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw invalid(`strongLength must be an integer from 1 to ${max} for ${hash} (or -1 for the safe minimum), got ${n}`);
  }
}

function checkNames(rollsum: RollsumName, hash: StrongHashName): void {
  if (rollsum !== 'rabinkarp' && rollsum !== 'rollsum') {
    throw invalid(`rollsum must be 'rabinkarp' or 'rollsum', got ${JSON.stringify(rollsum)}`);
  }
  if (hash !== 'blake2b' && hash !== 'md4' && hash !== 'sha256') {
    throw invalid(`hash must be 'blake2b', 'md4' or 'sha256', got ${JSON.stringify(hash)}`);
  }
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw invalid(`size must be a non-negative integer, got ${size}`);
}

/** floor(√n), exact for every safe integer (the float root can be one off near squares). */
function isqrt(n: number): number {
  let r = Math.floor(Math.sqrt(n));
  while (r * r > n) r--;
  while ((r + 1) * (r + 1) <= n) r++;
  return r;
}

/** floor(log2(n)) for n >= 1 (0 for n < 2), as librsync's rs_long_ln2; safe beyond 2^32. */
function ilog2(n: number): number {
  let k = 0;
  while (n >= 2) {
    n = Math.floor(n / 2);
    k++;
  }
  return k;
}

function invalid(message: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, message);
}
