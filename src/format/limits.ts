import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Hard caps every decoder checks before it allocates or accepts a length read from its input.
 * Inputs are hostile: a length field is only trusted once it is below its cap.
 */
export interface DecodeLimits {
  /** Largest msgpack header (native formats). Default 64 KiB. */
  readonly maxHeaderBytes: number;
  /** Largest raw (decompressed) native delta frame. Default 16 MiB. */
  readonly maxFrameBytes: number;
  /** Largest single literal op or command. Default 1 TiB. */
  readonly maxLiteralBytes: number;
  /** Largest target a delta may write, and largest copy. Default 1 TiB. */
  readonly maxTargetLength: number;
  /** Most blocks a signature may hold. Default 2^26 (64 Mi blocks). */
  readonly maxSignatureBlocks: number;
}

const TIB = 2 ** 40;

/** The limits used when none are given. */
export const DEFAULT_LIMITS: DecodeLimits = Object.freeze({
  maxHeaderBytes: 64 * 1024,
  maxFrameBytes: 16 * 1024 * 1024,
  maxLiteralBytes: TIB,
  maxTargetLength: TIB,
  maxSignatureBlocks: 2 ** 26,
});

/**
 * Fills in defaults and validates each given limit (a positive safe integer).
 * @example
 * const limits = resolveLimits({ maxFrameBytes: 1 << 20 });
 */
export function resolveLimits(partial?: Partial<DecodeLimits>): DecodeLimits {
  if (partial === undefined) return DEFAULT_LIMITS;
  for (const key of Object.keys(partial)) {
    // A misspelled limit (maxTargetSize) would leave the default in force without a word.
    if (!(key in DEFAULT_LIMITS)) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `unknown limit ${key}: the limits are ${Object.keys(DEFAULT_LIMITS).join(', ')}`);
  }
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof DecodeLimits)[]) {
    const v = partial[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `limit ${key} must be a positive safe integer, got ${String(v)}`);
    }
    out[key] = v;
  }
  return Object.freeze(out);
}
