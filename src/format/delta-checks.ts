import { equalBytes, toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { DeltaHeader } from './delta-header.js';

/**
 * Refuses a basis the delta was not made against, before anything is written: the length is
 * compared at once, the SHA-256 only when the header carries one and `basisSha256` is given.
 */
export function checkBasis(header: DeltaHeader, basisLength: number, basisSha256: Uint8Array | undefined): void {
  if (header.basisLength !== undefined && header.basisLength !== basisLength) {
    throw new RolldeltaError(
      ErrorCode.BASIS_MISMATCH,
      `this delta was made against a basis of ${header.basisLength} bytes, but the basis given has ${basisLength} bytes; patch the file the delta was made from`,
    );
  }
  if (header.basisSha256 && basisSha256 && !equalBytes(header.basisSha256, basisSha256)) {
    throw new RolldeltaError(
      ErrorCode.BASIS_MISMATCH,
      `this delta was made against a basis with SHA-256 ${toHex(header.basisSha256)}, but the basis given has ${toHex(basisSha256)}; patch the file the delta was made from`,
    );
  }
}

/** Verifies the rebuilt target against the delta's trailer (its SHA-256 unless none is given); a mismatch means a corrupt delta or basis. */
export function checkTarget(
  expected: { targetLength: number; targetSha256: Uint8Array },
  length: number,
  sha256: Uint8Array | undefined,
): void {
  if (expected.targetLength !== length) {
    throw new RolldeltaError(
      ErrorCode.CHECKSUM,
      `the delta promised ${expected.targetLength} target bytes but produced ${length}; the delta is corrupt`,
    );
  }
  if (sha256 !== undefined && !equalBytes(expected.targetSha256, sha256)) {
    throw new RolldeltaError(
      ErrorCode.CHECKSUM,
      `the rebuilt target has SHA-256 ${toHex(sha256)}, the delta expected ${toHex(expected.targetSha256)}; the delta or the basis is corrupt`,
    );
  }
}
