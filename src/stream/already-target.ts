import { open, stat } from 'node:fs/promises';
import { copyBytes, equalBytes } from '../core/bytes.js';
import { crc32 } from '../core/crc32.js';
import { FRAME_HEAD, FRAME_TRAILER, TRAILER_MAX, TRAILER_MIN } from '../format/native-codes.js';
import { readU32 } from '../format/_reader.js';
import { Cursor } from '../format/varint.js';
import { fileSha256 } from './file-sha256.js';

/**
 * The target a native delta file promises (its trailer's length and SHA-256), read from the file's
 * last bytes without decoding the rest: the trailer is the frame that ends the file and passes its
 * CRC. Undefined for an rdiff delta or a file that does not end that way.
 */
async function promisedTarget(deltaPath: string): Promise<{ length: number; sha256: Uint8Array } | undefined> {
  const fh = await open(deltaPath, 'r');
  try {
    const { size } = await fh.stat();
    const n = Math.min(size, FRAME_HEAD + TRAILER_MAX);
    const tail = new Uint8Array(n);
    await fh.read(tail, 0, n, size - n);
    for (let at = 0; at + FRAME_HEAD + TRAILER_MIN <= n; at++) {
      const body = tail.subarray(at + FRAME_HEAD);
      if (tail[at] !== FRAME_TRAILER || readU32(tail, at + 1) !== body.length || readU32(tail, at + 5) !== crc32(body)) continue;
      try {
        const c = new Cursor(body, 0, body.length);
        const length = c.varint();
        const sha256 = copyBytes(c.bytes(32));
        c.varint(); // the frame count
        if (c.pos === body.length) return { length, sha256 };
      } catch {
        // Not a trailer after all: a CRC that matched by chance.
      }
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Whether the file at `basisPath` already is the target the delta at `deltaPath` makes (same
 * length and SHA-256): a patch of a file over itself that already ran to the end, and is run again
 * (a device retrying an update after a crash), has nothing left to do. rdiff deltas promise no
 * target, so for them this is false.
 * @example
 * if (await isAlreadyTarget('app.bin', 'update.rdelta')) return; // patched earlier
 */
export async function isAlreadyTarget(basisPath: string, deltaPath: string): Promise<boolean> {
  const target = await promisedTarget(deltaPath).catch(() => undefined);
  if (!target) return false;
  const s = await stat(basisPath).catch(() => undefined);
  if (!s?.isFile() || s.size !== target.length) return false;
  return equalBytes((await fileSha256(basisPath)).digest, target.sha256);
}
