import { toHex } from '../core/bytes.js';
import type { Hasher } from '../core/hash.js';
import { DamagedRangeError, FrameScanner } from '../format/frame-scanner.js';
import { readImageDeltaFileHeader } from '../image/image-delta-file.js';
import { fileSha256 } from '../stream/file-sha256.js';
import { nodeRawDeflate } from '../stream/node-raw-deflate.js';
import { nodeSha256 } from '../stream/node-sha256.js';

/** What one read of a stored delta found: its SHA-256, and the damage in it, if any. */
export interface StoredDeltaCheck {
  sha256: string;
  /** Why its bytes are not a delta as made (a frame fails its CRC-32, it ends early); none when sound. */
  damage?: string;
  /** Whether it has frame checksums (an rdiff delta has none). */
  framed: boolean;
  /**
   * Frame heads, ascending and at least FRAME_START_SPACING apart, where a check of a range may
   * start ({@link DeltaFrameCheck}); empty for a delta without frame checksums.
   */
  frameStarts: number[];
  /**
   * The images a sound image delta's header says it goes between (old and new image IDs); none for
   * a damaged file or one that is not an image delta.
   */
  images?: { old: string; new: string };
}

/**
 * Least distance between the frame heads a check keeps. A range is checked from the last one
 * before it, so a request for a range reads at most about this or one frame (image deltas' frames
 * are ~1 MiB: every head is kept) more than it sends; a 1 GiB delta keeps up to 4096 heads (32 KiB)
 * with its cached digest.
 */
const FRAME_START_SPACING = 256 << 10;

/**
 * The frame checks of a stored delta's bytes, fed from its start or from a frame head an earlier
 * check kept: notes the first damage (then checks nothing more) instead of throwing it.
 * @example
 * const frames = new DeltaFrameCheck(stored.frameStarts[0]); // fed from that offset on
 * if (!frames.push(bytes)) console.log(frames.damage); // 'a frame fails its CRC-32 at byte 4194321'
 */
export class DeltaFrameCheck {
  readonly scanner: FrameScanner;
  damage: string | undefined;
  readonly frameStarts: number[] = [];
  private lastStart = 0;

  constructor(startAtFrame?: number) {
    const onFrameHead = (at: number) => {
      if (at - this.lastStart < FRAME_START_SPACING) return;
      this.frameStarts.push(at);
      this.lastStart = at;
    };
    this.scanner = new FrameScanner({ crc32: nodeRawDeflate.crc32, startAtFrame, onFrameHead });
  }

  /** Feeds the next bytes; false once damage was found. */
  push(data: Uint8Array): boolean {
    if (this.damage !== undefined) return false;
    const { scanner } = this;
    try {
      scanner.push(data);
    } catch (e) {
      if (!(e instanceof DamagedRangeError)) throw e;
      this.damage = e.damage;
      return false;
    }
    return true;
  }

  /** The damage of a whole delta that ended after `length` bytes: any found, or its trailer missing. */
  damageAtEnd(length: number): string | undefined {
    const { scanner } = this;
    if (this.damage === undefined && scanner.checking && !scanner.complete) return `it ends at byte ${length}, before its trailer (cut short)`;
    return this.damage;
  }
}

/** SHA-256 that also feeds what it hashes to a frame check: one read of a delta for both, stored or being sent. */
export class ScanningSha256 implements Hasher {
  private readonly h = nodeSha256();
  readonly frames = new DeltaFrameCheck();
  /** The digest once taken: fileSha256 takes it, and `result` reads it after. */
  private sum: Uint8Array | undefined = undefined;

  update(data: Uint8Array): this {
    this.h.update(data);
    this.frames.push(data);
    return this;
  }

  digest(): Uint8Array {
    return (this.sum ??= this.h.digest());
  }

  /** What the `length` bytes fed add up to (this takes the digest: call it at the end). */
  result(length: number): StoredDeltaCheck {
    const { frames } = this;
    return { sha256: toHex(this.digest()), damage: frames.damageAtEnd(length), framed: frames.scanner.checking, frameStarts: frames.frameStarts };
  }
}

/**
 * Reads a stored delta once for both the SHA-256 the server announces and its frames' CRC-32s, as
 * a device checks them: a copy damaged on the server's disk (bit rot, a truncated file) was
 * announced with its own SHA-256, every device found the same frame damaged three times and
 * pulled, and the server served it on. A file in no checksummed format (no delta magic) is not
 * judged. A sound image delta's header is read too, for the images it goes between.
 * @example
 * const { sha256, damage, images } = await checkStoredDelta('/srv/deltas/0ab9….rdimg');
 */
export async function checkStoredDelta(path: string): Promise<StoredDeltaCheck> {
  let hasher: ScanningSha256 | undefined;
  const { length } = await fileSha256(path, { sha256: () => (hasher = new ScanningSha256()) });
  const check = hasher!.result(length);
  if (check.damage !== undefined) return check;
  const header = await readImageDeltaFileHeader(path, 'the stored delta').catch(() => undefined);
  return header ? { ...check, images: { old: header.old.id, new: header.new.id } } : check;
}
