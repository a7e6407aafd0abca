import { ErrorCode, RolldeltaError } from './errors.js';

/**
 * Tuning knobs of the two-sided diff. Every field is optional; the defaults were measured on
 * realistic pairs (library trees, tars with edited, added and moved files).
 */
export interface DiffOptions {
  /** Bytes hashed per index entry: the shortest seed a match can grow from. Default 16 (a multiple of 4 from 4 to 64).
   *  Without approximate matching 32 gave ~8% smaller deltas on edited binaries (fewer spurious short
   *  copies); with it, 16 gave 7% smaller deltas on recompiled libraries (short exact runs anchor regions). */
  seedLength?: number;
  /**
   * Index every `stride`-th basis position (range 1-4096). The index takes 8 bytes per indexed
   * position, `8 * basis.length / stride` bytes; the default (16 up to 256 MiB of basis, 32 up to 1 GiB, 64 above) keeps it at
   * most half the basis size. Any match at least `seedLength + stride - 1` long is found.
   */
  stride?: number;
  /** Shortest copy worth emitting; shorter matches stay literal. Default 24 (range 4-65536);
   *  a copy splits the deflated literal stream, so short ones cost more than they save (48 was best
   *  without approximate matching; pass it with `approximate: false`). */
  minMatch?: number;
  /** Max index candidates verified per target position (DoS cap on colliding seeds). Default 4 (1-16). */
  maxCandidates?: number;
  /**
   * Explain the bytes between exact matches approximately, as bsdiff does: where a match's
   * displacement still agrees on more than half of the bytes, send ADD ops (basis bytes plus a
   * mostly-zero diff) instead of literals. Default true; used only when the sink has `add()`
   * (the native format; rdiff deltas never get ADD ops).
   */
  approximate?: boolean;
}

/** DiffOptions with every default filled in and every value checked. */
export interface ResolvedDiffOptions {
  readonly seedLength: number;
  readonly stride: number;
  readonly minMatch: number;
  readonly maxCandidates: number;
}

export const DIFF_DEFAULTS = { seedLength: 16, minMatch: 24, maxCandidates: 4 } as const;

/** Largest basis the diff indexes: positions live in an Int32Array. */
export const MAX_DIFF_BASIS = 0x7fffffff;

/**
 * The stride the diff uses for a basis of `basisLength` bytes when none is given: 16 up to 256 MiB
 * (the index is then half the basis), 32 up to 1 GiB, 64 above. Measured on edited
 * binaries and tars: stride 8 was 0.1% smaller and 2x the index, 32 was 0.9% larger. Keeping 16
 * for larger bases would make the cost per byte the same at every size, but on the 1 GiB bench
 * pair it made the diff 1.45x slower for a 2.5% smaller delta, and the 1 GiB bench image's delta
 * (whose layers match whole) no smaller at all.
 * @example
 * defaultStride(64 << 20); // 16
 */
export function defaultStride(basisLength: number): number {
  return basisLength <= 256 * 2 ** 20 ? 16 : basisLength <= 2 ** 30 ? 32 : 64;
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

function seedLengthOf(opts: DiffOptions): number {
  const v = intIn(opts, 'seedLength', 4, 64, DIFF_DEFAULTS.seedLength);
  if (v % 4 !== 0) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `diff option seedLength must be a multiple of 4 (seeds are hashed as 32-bit words), got ${v}`);
  }
  return v;
}

/**
 * Checks `opts` once and fills in the defaults for a basis of `basisLength` bytes.
 * Throws ERR_INVALID_ARGUMENT for an out-of-range option.
 * @example
 * resolveDiffOptions(1 << 20, { minMatch: 32 }); // { seedLength: 16, stride: 16, minMatch: 32, maxCandidates: 4 }
 */
export function resolveDiffOptions(basisLength: number, opts: DiffOptions = {}): ResolvedDiffOptions {
  if (opts === null || typeof opts !== 'object') {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `diff options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  }
  return {
    seedLength: seedLengthOf(opts),
    stride: intIn(opts, 'stride', 1, 4096, defaultStride(basisLength)),
    minMatch: intIn(opts, 'minMatch', 4, 65536, DIFF_DEFAULTS.minMatch),
    maxCandidates: intIn(opts, 'maxCandidates', 1, 16, DIFF_DEFAULTS.maxCandidates),
  };
}
