import { DeltaMatcher } from '../core/matcher.js';
import type { Signature } from '../core/params.js';
import { DeltaWriter } from './delta-writer.js';
import type { DeltaOptions } from './operations-options.js';

/**
 * Incremental rsync-mode delta: a signature of the basis plus the target, chunk by chunk, in; delta
 * bytes out. Memory: the signature plus one block window, whatever the target's size.
 * @example
 * const d = new RsyncDelta(sig, (c) => out.push(c));
 * for (const chunk of target) d.push(chunk);
 * d.finish();
 */
export class RsyncDelta {
  private readonly writer: DeltaWriter;
  private readonly matcher: DeltaMatcher;

  constructor(sig: Signature, ondata: (chunk: Uint8Array) => void, opts: DeltaOptions = {}) {
    this.writer = new DeltaWriter(
      opts.format ?? 'native',
      {
        mode: 'rsync',
        basisLength: sig.basisLength,
        basisSha256: sig.basisSha256,
        blockLength: sig.blockLength,
        rollsum: sig.rollsum,
        hash: sig.hash,
        codec: opts.level === 0 ? 'stored' : 'deflate',
        level: opts.level,
      },
      ondata,
      opts,
    );
    this.matcher = new DeltaMatcher(sig, this.writer.sink, { sha256: opts.sha256 });
  }

  push(chunk: Uint8Array): void {
    this.writer.target(chunk);
    this.matcher.push(chunk);
  }

  /** See `DeltaWriter.settled`: await it between pushes when frames are packed in the background. */
  settled(maxPending = 0): Promise<void> {
    return this.writer.settled(maxPending);
  }

  finish(): void {
    this.matcher.finish();
    this.writer.finish();
  }
}
