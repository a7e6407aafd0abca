import { createHash } from 'node:crypto';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** 'sha256:<hex>' of bytes. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The hex part of a 'sha256:<hex>' digest; anything else is corrupt. */
export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new RolldeltaError(ErrorCode.CORRUPT, `expected a sha256:<64 hex> digest, got ${JSON.stringify(digest).slice(0, 80)}`);
  return m[1];
}
