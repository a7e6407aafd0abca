import type { Hasher } from '../core/hash.js';
import type { OpSink } from '../core/ops.js';
import { Sha256 } from '../core/sha256.js';
import type { DeltaHeader } from './delta-header.js';
import { NativeDeltaEncoder } from './native-delta-encoder.js';
import { RdiffDeltaEncoder } from './rdiff-delta-encoder.js';
import type { DeltaOptions, WireFormat } from './operations-options.js';

/**
 * The encoding end of every delta producer (rsync matcher, two-sided diff): takes ops, writes them
 * in the chosen wire format, and hashes the target bytes it is told about so the native trailer can
 * carry the target's length and SHA-256.
 * @example
 * const w = new DeltaWriter('native', { mode: 'diff', codec: 'deflate' }, (c) => out.push(c));
 * matcher = new DiffMatcher(basis, w.sink); w.target(chunk); matcher.push(chunk); ...; matcher.finish(); w.finish();
 */
export class DeltaWriter {
  /** Where the matcher sends its ops. */
  readonly sink: OpSink;
  private readonly native: NativeDeltaEncoder | undefined;
  private readonly rdiff: RdiffDeltaEncoder | undefined;
  private readonly hasher: Hasher;
  private targetLength = 0;

  constructor(format: WireFormat, header: DeltaHeader, ondata: (chunk: Uint8Array) => void, opts: DeltaOptions = {}) {
    this.hasher = opts.sha256 ? opts.sha256() : new Sha256();
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
    if (this.native) this.hasher.update(chunk);
  }

  /**
   * Resolves once at most `maxPending` frames are still being packed in the background (with
   * `background` and a `deflateAsync` or `packFrameAsync`; otherwise at once); rethrows a packing failure.
   */
  settled(maxPending = 0): Promise<void> {
    return this.native ? this.native.settled(maxPending) : Promise.resolve();
  }

  /** Flushes everything and writes the trailer (native) or the END command (rdiff). */
  finish(): void {
    if (this.native) this.native.finish({ targetLength: this.targetLength, targetSha256: this.hasher.digest() });
    else this.rdiff!.finish();
  }
}
