import type { Signature } from '../core/params.js';
import * as anywhere from '../format/operations.js';
import type { DeltaOptions, DiffDeltaOptions, PatchOptions, SignatureOptions } from '../format/operations-options.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';

/** Node's SHA-256 and DEFLATE, unless the caller chose others. */
function onNode<T extends { sha256?: unknown; rawDeflate?: unknown }>(opts: T): T {
  return { ...opts, sha256: opts.sha256 ?? nodeSha256, rawDeflate: opts.rawDeflate ?? nodeRawDeflate };
}

// The one-shot operations (and buildSignatureOf) as the package's entry exports them: the format
// layer's, which run in any runtime on the pure-TypeScript SHA-256 and fflate, with node:crypto and
// node:zlib injected, as the streams and file functions have them. A 64 MiB pair: patch 0.80-0.85
// → 0.12 s, diff 1.18-1.29 → 0.46-0.57 s. Deltas decode the same either way (raw DEFLATE is
// standard), but node:zlib packs literals into other bytes than fflate does.

/**
 * Signature of a whole basis, encoded (native format unless `format: 'rdiff'`).
 * @example
 * const sig = signature(oldBytes);               // on the device
 * const d = delta(sig, newBytes);                // on the server
 * const rebuilt = patch(oldBytes, d);            // on the device again
 */
export function signature(basis: Uint8Array, opts: SignatureOptions = {}): Uint8Array {
  return anywhere.signature(basis, onNode(opts));
}

/**
 * Builds the in-memory Signature of a whole basis (the structure behind `signature`).
 * @example
 * const sig = buildSignatureOf(oldBytes); // sig.blockCount, sig.weak, sig.strong
 */
export function buildSignatureOf(basis: Uint8Array, opts: SignatureOptions = {}): Signature {
  return anywhere.buildSignatureOf(basis, onNode(opts));
}

/**
 * rsync-mode delta of `target` against the basis a signature describes. `sig` is an encoded
 * signature of either format, or a decoded one.
 * @example
 * const d = delta(signature(oldBytes), newBytes, { format: 'rdiff' }); // for `rdiff patch`
 */
export function delta(sig: Uint8Array | Signature, target: Uint8Array, opts: DeltaOptions = {}): Uint8Array {
  return anywhere.delta(sig, target, onNode(opts));
}

/**
 * Two-sided diff: matches at any offset of the basis, extended both ways, literals deflated.
 * Gives the smallest deltas when both versions are at hand.
 * @example
 * const d = diff(oldBytes, newBytes, { level: 9 });
 * patch(oldBytes, d); // equals newBytes
 */
export function diff(basis: Uint8Array, target: Uint8Array, opts: DiffDeltaOptions = {}): Uint8Array {
  return anywhere.diff(basis, target, onNode(opts));
}

/**
 * Applies a delta of either format to the basis it was made against and returns the target.
 * Throws ERR_BASIS_MISMATCH before doing any work for a wrong basis, ERR_CHECKSUM if the result
 * does not verify.
 * @example
 * const newBytes = patch(oldBytes, deltaBytes);
 */
export function patch(basis: Uint8Array, deltaBytes: Uint8Array, opts: PatchOptions = {}): Uint8Array {
  return anywhere.patch(basis, deltaBytes, onNode(opts));
}
