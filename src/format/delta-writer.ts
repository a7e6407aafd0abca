import type { BackgroundHasher, Hasher } from '../core/hash.js';
import type { OpSink } from '../core/ops.js';
import { Sha256 } from '../core/sha256.js';
import type { DeltaHeader } from './delta-header.js';
import { NativeDeltaEncoder } from './native-delta-encoder.js';
import { RdiffDeltaEncoder } from './rdiff-delta-encoder.js';
import { wireFormatOf, type DeltaOptions, type WireFormat } from './operations-options.js';

/**
 * The encoding end of every delta producer (rsync matcher, two-sided diff): takes ops, writes them
 * in the chosen wire format, and hashes the target bytes it is told about so the native trailer can
 * carry the target's length and SHA-256: on this thread, or with `background` and a
 * `backgroundSha256` elsewhere, the trailer then waiting in `DeltaWriter.settled` for the digest.
 * @example
 * const w = new DeltaWriter('native', { mode: 'diff', codec: 'deflate' }, (c) => out.push(c));
 * matcher = new DiffMatcher(basis, w.sink); w.target(chunk); matcher.push(chunk); ...; matcher.finish(); w.finish();
 */
export class DeltaWriter {
  /** Where the matcher sends its ops. */
  readonly sink: OpSink;
  private readonly native: NativeDeltaEncoder | undefined;
  private readonly rdiff: RdiffDeltaEncoder | undefined;
  /** Hashes the target here, or `away` does (elsewhere, see DeltaOptions.backgroundSha256). */
  private readonly hasher: Hasher | undefined;
  private readonly away: BackgroundHasher | undefined;
  /** With `away`: the trailer, written once its digest is in. */
  private trailer: Promise<void> | undefined;
  private targetLength = 0;

  constructor(format: WireFormat, header: DeltaHeader, ondata: (chunk: Uint8Array) => void, opts: DeltaOptions = {}) {
    wireFormatOf(format);
    this.away = format === 'native' && opts.background && opts.backgroundSha256 ? opts.backgroundSha256() : undefined;
    this.hasher = this.away ? undefined : opts.sha256 ? opts.sha256() : new Sha256();
    if (format === 'rdiff') {
      this.rdiff = new RdiffDeltaEncoder(ondata);
      this.native = undefined;
      this.sink = this.rdiff;
    } else {
      this.native = new NativeDeltaEncoder(header, ondata, { level: opts.level, frameSize: opts.frameSize, rawDeflate: opts.rawDeflate, background: opts.background, packFrameAsync: opts.packFrameAsync });
      this.rdiff = undefined;
      this.sink = this.native;
    }
  }

  /** Records target bytes (in order) so their length and hash go into the trailer. */
  target(chunk: Uint8Array): void {
    this.targetLength += chunk.length;
    if (!this.native) return;
    if (this.away) this.away.update(chunk);
    else this.hasher!.update(chunk);
  }

  /**
   * Resolves once at most `maxPending` frames are still being packed in the background (with
   * `background` and a `deflateAsync` or `packFrameAsync`; otherwise at once), and the background
   * hash is at most HASH_BACKLOG bytes behind (after finish: done, and the trailer written);
   * rethrows a packing or hashing failure.
   */
  async settled(maxPending = 0): Promise<void> {
    if (!this.native) return;
    if (this.trailer) await this.trailer;
    else if (this.away) await this.away.caughtUp(HASH_BACKLOG);
    await this.native.settled(maxPending);
  }

  /**
   * Flushes everything and writes the trailer (native) or the END command (rdiff); with a
   * background hash, the trailer follows once {@link settled} has its digest.
   */
  finish(): void {
    const native = this.native;
    if (!native) {
      this.rdiff!.finish();
      return;
    }
    const targetLength = this.targetLength;
    if (!this.away) {
      native.finish({ targetLength, targetSha256: this.hasher!.digest() });
      return;
    }
    this.trailer = this.away.digest().then((targetSha256) => native.finish({ targetLength, targetSha256 }));
    this.trailer.catch(() => {}); // awaited in settled(); a failure meanwhile is not unhandled
  }
}

/** Target bytes the background hash may lag behind the matching: bounds the copies in flight. */
const HASH_BACKLOG = 8 << 20;
