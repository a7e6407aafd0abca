import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { FramePackerAsync } from './_frame-packing.js';
import type { BackgroundHasher, HasherFactory } from '../core/hash.js';
import type { RollsumName, StrongHashName } from '../core/params.js';
import type { DiffOptions } from '../core/diff-options.js';
import type { DecodeLimits } from './limits.js';
import type { NativeDeltaDecoderOptions } from './native-delta-decoder.js';
import type { RawDeflate } from './raw-deflate.js';

/** Which wire format to write: rolldelta's own (smaller, verified) or librsync's rdiff format. */
export type WireFormat = 'native' | 'rdiff';

/**
 * `format` as given, or 'native' when unset; anything else is ERR_INVALID_ARGUMENT (JavaScript
 * callers and option files get no type check, and a typo made the native format silently).
 * @example
 * wireFormatOf(undefined); // 'native'
 */
export function wireFormatOf(format: WireFormat | undefined): WireFormat {
  if (format === undefined || format === 'native' || format === 'rdiff') return format ?? 'native';
  throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `format must be 'native' or 'rdiff', got ${JSON.stringify(format)}`);
}

/**
 * The strong hash a signature uses when none is asked for: rdiff's BLAKE2b for the rdiff format,
 * SHA-256 for the native one (hardware-fast in Node, and as strong).
 */
export function defaultHashFor(format: WireFormat): StrongHashName {
  return format === 'rdiff' ? 'blake2b' : 'sha256';
}

/** Options for making a signature. Defaults are rdiff's, chosen from the basis length, except the native format's hash and its block length's 8 KiB cap. */
export interface SignatureOptions {
  format?: WireFormat;
  /** Bytes per block; default about √(basis length), as rdiff picks it, at most 8 KiB in the native format (defaultBlockLengthFor). */
  blockLength?: number;
  /** Bytes kept of each strong sum; default the hash's full length; -1 picks the smallest safe one. */
  strongLength?: number;
  rollsum?: RollsumName;
  /** Strong hash; default SHA-256 in the native format, BLAKE2b in rdiff's. */
  hash?: StrongHashName;
  /** SHA-256 implementation; the Node adapters pass node:crypto's. */
  sha256?: HasherFactory;
}

/** Options for encoding a delta. */
export interface DeltaOptions {
  format?: WireFormat;
  /** Deflate level for literals (0-9) in the native format; default 6. */
  level?: number;
  /** Raw bytes per native frame; default 1 MiB. */
  frameSize?: number;
  sha256?: HasherFactory;
  /** DEFLATE implementation; default fflate's, the Node adapters pass node:zlib's. */
  rawDeflate?: RawDeflate;
  /**
   * For incremental producers whose caller awaits their `settled()` between pushes (the stream
   * adapters do): pack frames in the background with `rawDeflate.deflateAsync`, or at level 9
   * with `packFrameAsync` when given. Ignored by the one-shot functions.
   */
  background?: boolean;
  /**
   * With `background`, at level 9: packs a frame elsewhere (the Node adapters pass worker threads,
   * several frames at once); it must give what `packFrame` gives, or undefined to have the frame
   * packed here.
   */
  packFrameAsync?: FramePackerAsync;
  /**
   * With `background`, in the native format: hashes the target for the trailer elsewhere
   * (`diffChunks` passes a worker thread for a target of 128 MiB or more when given more than one
   * thread), instead of `sha256` on the matching thread. Its digest must be SHA-256.
   */
  backgroundSha256?: () => BackgroundHasher;
}

/** Options for the two-sided diff; the output is always the native format. */
export interface DiffDeltaOptions extends DiffOptions {
  level?: number;
  /**
   * Make a delta that `patchInPlace` applies within `inPlaceStash` bytes saved aside on the
   * device: if breaking the copy cycles (regions that swapped places) would need more, the pieces
   * that close them are sent as literals instead. Holds the ops in memory until the end.
   */
  inPlace?: boolean;
  /** With `inPlace`: bytes the device may save aside to break cycles (default 256 KiB; 0: none). */
  inPlaceStash?: number;
  frameSize?: number;
  sha256?: HasherFactory;
  /** DEFLATE implementation; default fflate's, the Node adapters pass node:zlib's. */
  rawDeflate?: RawDeflate;
  /** See {@link DeltaOptions.background}. */
  background?: boolean;
  /** See {@link DeltaOptions.packFrameAsync}. */
  packFrameAsync?: FramePackerAsync;
  /** See {@link DeltaOptions.backgroundSha256}. */
  backgroundSha256?: () => BackgroundHasher;
}

/** Options for applying a delta. */
export interface PatchOptions {
  limits?: Partial<DecodeLimits>;
  /**
   * Check the basis SHA-256 the delta names: `true` (default) before the first output byte;
   * `'on-failure'` only if the target then fails its own SHA-256 check, to name the cause (a
   * wrong basis, or a damaged delta): one read of the basis less, for outputs that are invisible
   * until verified (a temporary file renamed on success); `false` never. The basis length is
   * always checked first.
   */
  verifyBasis?: boolean | 'on-failure';
  /**
   * Check the rebuilt target's SHA-256 against the delta's trailer (default `true`). `false` skips
   * that hash (its length is still checked): only for callers that verify the output themselves,
   * as image apply does with every layer's DiffID, which would otherwise hash it twice.
   */
  verifyTarget?: boolean;
  sha256?: HasherFactory;
  /** DEFLATE implementation; default fflate's, the Node adapters pass node:zlib's. */
  rawDeflate?: RawDeflate;
  /** Called before per-byte work in JavaScript (context mixing, fflate, adding differences); see NativeDeltaDecoderOptions. */
  beforeJavaScriptWork?: NativeDeltaDecoderOptions['beforeJavaScriptWork'];
}
