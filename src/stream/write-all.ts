import type { FileHandle } from 'node:fs/promises';

/**
 * Writes every byte of `parts` at the file's current position, in as few calls as writev allows
 * (it may write less than asked).
 * @example
 * await writeAll(fh, [head, body, crc]);
 */
export async function writeAll(fh: FileHandle, parts: readonly Uint8Array[]): Promise<void> {
  let rest = parts.slice();
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest);
    let n = bytesWritten;
    let i = 0;
    while (i < rest.length && n >= rest[i]!.length) n -= rest[i++]!.length;
    rest = rest.slice(i);
    if (n > 0) rest[0] = rest[0]!.subarray(n);
  }
}
