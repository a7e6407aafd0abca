import { createHash } from 'node:crypto';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * `sha256:<hex>` of bytes: an image ID from its config, a blob's OCI digest.
 * @example
 * sha256Digest(configBytes); // 'sha256:4f1c...'
 */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The hex part of a `sha256:<64 hex>` digest. Another algorithm is ERR_UNSUPPORTED; anything that is
 * not a digest at all is ERR_CORRUPT (archive metadata is hostile input).
 * @example
 * digestHex('sha256:' + 'ab'.repeat(32)); // 'abab...'
 */
export function digestHex(digest: string, what = 'a digest'): string {
  const m = typeof digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(digest) : null;
  if (m) return m[1];
  const shown = JSON.stringify(String(digest)).slice(0, 90);
  if (typeof digest === 'string' && /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
    throw new RolldeltaError(ErrorCode.UNSUPPORTED, `${what} ${shown} uses an algorithm other than sha256, which this build does not handle; re-save the image with sha256 digests`);
  }
  throw new RolldeltaError(ErrorCode.CORRUPT, `${what} should be sha256:<64 lowercase hex>, found ${shown}; the archive is damaged`);
}

/**
 * The chain IDs of a layer stack (OCI image spec: ChainID(L0) = DiffID(L0), ChainID(Ln) =
 * sha256(ChainID(Ln-1) + " " + DiffID(Ln))): unique per position in the stack, which is how an
 * engine names layers it already has.
 * @example
 * chainIds([diffA, diffB]); // [diffA, 'sha256:' + sha256(diffA + ' ' + diffB)]
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    digestHex(d, 'a layer DiffID');
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}
