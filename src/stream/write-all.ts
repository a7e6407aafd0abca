import type { FileHandle } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Writes every byte of `parts` at the file's current position, in as few calls as writev allows
 * (it may write less than asked). A write of nothing with bytes left is ERR_IO naming `path`.
 * @example
 * await writeAll(fh, [head, body, crc], '/data/app.img.tmp');
 */
export async function writeAll(fh: FileHandle, parts: readonly Uint8Array[], path: string): Promise<void> {
  let rest = parts.filter((p) => p.length > 0);
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest);
    // Would loop for ever: a file system that writes nothing and reports no error (a FUSE one may).
    if (bytesWritten === 0) throw new RolldeltaError(ErrorCode.IO, `cannot write ${path}: the file system wrote nothing and reported no error`);
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= rest[i]!.length) n -= rest[i++]!.length;
    rest = rest.slice(i);
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}
