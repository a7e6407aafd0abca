import { assertBytes, concatBytes } from '../core/bytes.js';
import type { Signature } from '../core/params.js';
import { SignatureBuilder } from '../core/signature-builder.js';
import { DeltaApplier } from './delta-applier.js';
import { DiffDelta } from './diff-delta.js';
import { type DeltaOptions, type DiffDeltaOptions, type PatchOptions, type SignatureOptions } from './operations-options.js';
import { RsyncDelta } from './rsync-delta.js';
import { decodeSignature, encodeSignature } from './signature-codec.js';
import { resolveFormatParams } from './signature-defaults.js';

/**
 * Signature of a whole basis, encoded (native format unless `format: 'rdiff'`).
 * @example
 * const sig = signature(oldBytes);               // on the device
 * const d = delta(sig, newBytes);                // on the server
 * const rebuilt = patch(oldBytes, d);            // on the device again
 */
export function signature(basis: Uint8Array, opts: SignatureOptions = {}): Uint8Array {
  assertBytes(basis, 'basis');
  return encodeSignature(buildSignatureOf(basis, opts), opts.format ?? 'native');
}

/** Builds the in-memory Signature of a whole basis (the structure behind `signature`). */
export function buildSignatureOf(basis: Uint8Array, opts: SignatureOptions = {}): Signature {
  const b = new SignatureBuilder(resolveFormatParams(basis.length, opts), { sha256: opts.sha256 });
  b.push(basis);
  return b.finish();
}

/**
 * rsync-mode delta of `target` against the basis a signature describes. `sig` is an encoded
 * signature of either format, or a decoded one.
 * @example
 * const d = delta(signature(oldBytes), newBytes, { format: 'rdiff' }); // for `rdiff patch`
 */
export function delta(sig: Uint8Array | Signature, target: Uint8Array, opts: DeltaOptions = {}): Uint8Array {
  assertBytes(target, 'target');
  const parsed = sig instanceof Uint8Array ? decodeSignature(sig) : sig;
  const out: Uint8Array[] = [];
  const d = new RsyncDelta(parsed, (c) => out.push(c), { ...opts, background: false });
  d.push(target);
  d.finish();
  return concatBytes(out);
}

/**
 * Two-sided diff: matches at any offset of the basis, extended both ways, literals deflated.
 * Gives the smallest deltas when both versions are at hand.
 * @example
 * const d = diff(oldBytes, newBytes, { level: 9 });
 * patch(oldBytes, d); // equals newBytes
 */
export function diff(basis: Uint8Array, target: Uint8Array, opts: DiffDeltaOptions = {}): Uint8Array {
  assertBytes(basis, 'basis');
  assertBytes(target, 'target');
  const out: Uint8Array[] = [];
  const d = new DiffDelta(basis, (c) => out.push(c), { ...opts, background: false });
  d.push(target);
  d.finish();
  return concatBytes(out);
}

/**
 * Applies a delta of either format to the basis it was made against and returns the target.
 * Throws ERR_BASIS_MISMATCH before doing any work for a wrong basis, ERR_CHECKSUM if the result
 * does not verify.
 * @example
 * const newBytes = patch(oldBytes, deltaBytes);
 */
export function patch(basis: Uint8Array, deltaBytes: Uint8Array, opts: PatchOptions = {}): Uint8Array {
  assertBytes(basis, 'basis');
  assertBytes(deltaBytes, 'delta');
  const out: Uint8Array[] = [];
  new DeltaApplier(basis, (c) => out.push(c.slice()), opts).push(deltaBytes, true);
  return concatBytes(out);
}
