import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { describeFormat, detectFormat } from '../format/detect.js';
import { BLOCK, looksLikeTarStart } from '../tar/header.js';
import { compressionOf } from './compression.js';

/** Bytes `checkArchiveStart` looks at: one tar header. */
export const ARCHIVE_PROBE_BYTES = BLOCK;

const EXPECTED = 'an image archive (a `docker save` or OCI layout tar)';

const DECOMPRESS = { gzip: 'gunzip -k', zstd: 'zstd -d', xz: 'xz -dk', bzip2: 'bunzip2 -k' } as const;

/**
 * Refuses, from its first 512 bytes, a file that cannot be an image archive, saying what it is
 * instead: a rolldelta file (arguments swapped), a compressed archive, or no tar at all. A tar
 * damaged past its start is left to the tar reader (ERR_CHECKSUM, ERR_TRUNCATED).
 * @example
 * checkArchiveStart(await file.read(0, Math.min(ARCHIVE_PROBE_BYTES, file.length)), 'app-v1.tar');
 */
export function checkArchiveStart(head: Uint8Array, path: string): void {
  if (head.length === 0) throw new RolldeltaError(ErrorCode.TRUNCATED, `${path} is empty, not ${EXPECTED}; save the image again`);
  const kind = detectFormat(head);
  if (kind !== undefined) {
    throw new RolldeltaError(ErrorCode.BAD_MAGIC, `${path} is ${describeFormat(kind)}, not ${EXPECTED}; check the order of the arguments`);
  }
  const compression = compressionOf(head);
  if (compression !== undefined) {
    throw new RolldeltaError(
      ErrorCode.UNSUPPORTED,
      `${path} is ${compression}-compressed; rolldelta reads ${EXPECTED} uncompressed: decompress it first (\`${DECOMPRESS[compression]} ${path}\`)`,
    );
  }
  if (!looksLikeTarStart(head)) {
    throw new RolldeltaError(ErrorCode.BAD_MAGIC, `${path} is not ${EXPECTED}: it does not start with a tar header`);
  }
}
