import { ErrorCode, RolldeltaError } from './errors.js';

/**
 * Tuning knobs of the two-sided diff. Every field is optional; the defaults were measured on
 * realistic pairs (library trees, tars with edited, added and moved files).
 */
export interface DiffOptions {
  /** Bytes hashed per index entry: the shortest seed a match can grow from. Default 16 (range 4-64). */
  seedLength?: number;
  /**
   * Index every `stride`-th basis position (range 1-4096). Default grows with the basis (see
   * {@link defaultStride}) so the index stays near `8 * basis.length / stride` bytes, at most about a
   * quarter of the basis for large ones. Any match at least `seedLength + stride - 1` long is found.
   */
  stride?: number;
  /** Shortest copy worth emitting; shorter matches stay literal. Default 20 (range 4-65536). */
  minMatch?: number;
  /** Max index candidates verified per target position (DoS cap on colliding seeds). Default 4 (1-16). */
  maxCandidates?: number;
}

/** DiffOptions with every default filled in and every value checked. */
export interface ResolvedDiffOptions {
  readonly seedLength: number;
  readonly stride: number;
  readonly minMatch: number;
  readonly maxCandidates: number;
}

export const DIFF_DEFAULTS = { seedLength: 16, minMatch: 20, maxCandidates: 4 } as const;

/** Largest basis the diff indexes: positions live in an Int32Array. */
export const MAX_DIFF_BASIS = 0x7fffffff;

/**
 * The stride the diff uses for a basis of `basisLength` bytes when none is given: 2 for small
 * bases, doubling every factor of 4 in size above 1 MiB so the index stays bounded (8 MiB basis: 8,
 * 64 MiB: 16, 1 GiB: 32...).
 * @example
 * defaultStride(64 << 20); // 16
 */
export function defaultStride(basisLength: number): number {
  let stride = 2;
  let size = 1 << 20;
  while (size < basisLength && stride < 64) {
    size *= 4;
    stride *= 2;
  }
  return stride;
}

function intIn(opts: DiffOptions, key: keyof DiffOptions, lo: number, hi: number, dflt: number): number {
  const v = opts[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RolldeltaError(
      ErrorCode.INVALID_ARGUMENT,
      `diff option ${key} must be an integer from ${lo} to ${hi}, got ${String(v)}; leave it out to use the default`,
    );
  }
  return v;
}

/**
 * Checks `opts` once and fills in the defaults for a basis of `basisLength` bytes.
 * Throws ERR_INVALID_ARGUMENT for an out-of-range option.
 * @example
 * resolveDiffOptions(1 << 20, { minMatch: 32 }); // { seedLength: 16, stride: 2, minMatch: 32, maxCandidates: 4 }
 */
export function resolveDiffOptions(basisLength: number, opts: DiffOptions = {}): ResolvedDiffOptions {
  if (opts === null || typeof opts !== 'object') {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `diff options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  }
  return {
    seedLength: intIn(opts, 'seedLength', 4, 64, DIFF_DEFAULTS.seedLength),
    stride: intIn(opts, 'stride', 1, 4096, defaultStride(basisLength)),
    minMatch: intIn(opts, 'minMatch', 4, 65536, DIFF_DEFAULTS.minMatch),
    maxCandidates: intIn(opts, 'maxCandidates', 1, 16, DIFF_DEFAULTS.maxCandidates),
  };
}
