import { Transform, type TransformCallback } from 'node:stream';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { DeltaFrameCheck, ScanningSha256, type StoredDeltaCheck } from './_stored-delta-check.js';

/**
 * Checks a stored delta's bytes on their way to a device. The server checks a stored delta once
 * per file version; bit rot (the disk returning other bytes, with no write) leaves the version as
 * it was, so without this every device got the damaged frame until the server restarted, found it
 * damaged three times and pulled the whole image.
 *
 * The whole delta is checked as checkStoredDelta does: its frames' CRC-32s, then the SHA-256 it
 * was announced with, before its last chunk goes. A range gets the CRC-32s of the frames that end
 * in it: a frame scan needs a frame head to start from, so it is read from the last frame head
 * before it that the stored check kept (those bytes read, not sent; at most a few MiB). The frame
 * that crosses its end is the next range's to check, as the device's own scanner does. Not a
 * re-check of the whole file in the background instead: the answer carrying the damage would go
 * out meanwhile, and a device's three fetches of the frame can all come before such a check ends.
 *
 * Damage found: the chunk that shows it is not sent, the stream fails (pipeline then destroys the
 * response, so the device never holds a whole bad delta) and `damage` says what it is. The bytes
 * of the damaged frame sent before that chunk fail the device's frame check when it resumes, and
 * it fetches that frame again.
 * @example
 * const sent = new SentDeltaCheck(stored, 0, size, size);
 * pipeline(createReadStream(path, { start: sent.readFrom }), sent, res, () => sent.damage && remove(path));
 */
export class SentDeltaCheck extends Transform {
  /** Where the file is to be read from: the range's start, or the frame head its check starts at. */
  readonly readFrom: number;
  damage: string | undefined = undefined;
  /** File offset of the next byte to arrive. */
  private at: number;
  private readonly whole: ScanningSha256 | undefined;
  private readonly frames: DeltaFrameCheck | undefined;

  /** Checks bytes `first` to `stop` (exclusive) of a stored delta of `size` bytes that `stored` describes. */
  constructor(
    private readonly stored: StoredDeltaCheck,
    private readonly first: number,
    private readonly stop: number,
    private readonly size: number,
  ) {
    super();
    if (first === 0 && stop === size) {
      this.whole = new ScanningSha256();
      this.frames = undefined;
      this.readFrom = 0;
    } else {
      this.whole = undefined;
      let from = 0;
      for (const f of stored.frameStarts) if (f <= first) from = f;
      // No frames, nothing to check: read only what is sent.
      this.frames = stored.framed ? new DeltaFrameCheck(from === 0 ? undefined : from) : undefined;
      this.readFrom = stored.framed ? from : first;
    }
    this.at = this.readFrom;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const at = this.at;
    this.at += chunk.length;
    const { whole, frames } = this;
    if (whole) {
      whole.update(chunk);
      let damage = whole.frames.damage;
      if (damage === undefined && this.at >= this.size) {
        const now = whole.result(this.at);
        damage = now.damage ?? (now.sha256 === this.stored.sha256 ? undefined : `its SHA-256 is now ${now.sha256}, not the ${this.stored.sha256} announced`);
      }
      if (damage !== undefined) return done(this.failed(damage));
      return done(null, chunk);
    }
    if (frames && !frames.push(chunk)) return done(this.failed(frames.damage!));
    if (this.at <= this.first) return done(); // read only for the check
    done(null, at >= this.first ? chunk : chunk.subarray(this.first - at));
  }

  override _flush(done: TransformCallback): void {
    // The file shrank after it was opened: the response would end short of its Content-Length.
    if (this.at < this.stop) return done(this.failed(`it ends at byte ${this.at}, not at the ${this.stop} announced (cut short)`));
    done();
  }

  private failed(damage: string): RolldeltaError {
    this.damage = damage;
    return new RolldeltaError(ErrorCode.CORRUPT, `the stored delta is damaged: ${damage}`);
  }
}
