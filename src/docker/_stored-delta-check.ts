import { toHex } from '../core/bytes.js';
import type { Hasher } from '../core/hash.js';
import { DamagedRangeError, FrameScanner } from '../format/frame-scanner.js';
import { fileSha256 } from '../stream/file-sha256.js';
import { nodeRawDeflate } from '../stream/node-raw-deflate.js';
import { nodeSha256 } from '../stream/node-sha256.js';

/** What one read of a stored delta found: its SHA-256, and the damage in it, if any. */
export interface StoredDeltaCheck {
  sha256: string;
  /** Why its bytes are not a delta as made (a frame fails its CRC-32, it ends early); none when sound. */
  damage?: string;
}

/** SHA-256 that also feeds what it hashes to a frame scanner, noting the first damaged unit. */
class ScanningSha256 implements Hasher {
  private readonly h = nodeSha256();
  readonly scanner = new FrameScanner({ crc32: nodeRawDeflate.crc32 });
  damage: string | undefined;

  update(data: Uint8Array): this {
    this.h.update(data);
    if (this.damage !== undefined) return this;
    try {
      this.scanner.push(data);
    } catch (e) {
      if (!(e instanceof DamagedRangeError)) throw e;
      this.damage = e.damage;
    }
    return this;
  }

  digest(): Uint8Array {
    return this.h.digest();
  }
}

/**
 * Reads a stored delta once for both the SHA-256 the server announces and its frames' CRC-32s, as
 * a device checks them: a copy damaged on the server's disk (bit rot, a truncated file) was
 * announced with its own SHA-256, every device found the same frame damaged three times and
 * pulled, and the server served it on. A file in no checksummed format (no delta magic) is not judged.
 * @example
 * const { sha256, damage } = await checkStoredDelta('/srv/deltas/0ab9….rdimg');
 */
export async function checkStoredDelta(path: string): Promise<StoredDeltaCheck> {
  let hasher: ScanningSha256 | undefined;
  const { length, digest } = await fileSha256(path, { sha256: () => (hasher = new ScanningSha256()) });
  const { scanner } = hasher!;
  let damage = hasher!.damage;
  if (damage === undefined && scanner.checking && !scanner.complete) damage = `it ends at byte ${length}, before its trailer (cut short)`;
  return { sha256: toHex(digest), damage };
}
