import { DiffIndex } from '../core/diff-index.js';
import { DiffMatcher } from '../core/diff-matcher.js';
import type { Hasher } from '../core/hash.js';
import { Sha256 } from '../core/sha256.js';
import { DeltaWriter } from './delta-writer.js';
import { inPlaceOpsFor, type InPlaceOps } from './_in-place-ops.js';
import type { DiffDeltaOptions } from './operations-options.js';

/**
 * Incremental two-sided diff: the whole basis in memory (indexed once), the target streamed in,
 * native delta bytes out. Pass a prebuilt `DiffIndex` and the basis hash to diff many targets
 * against one basis without re-indexing it; `basisSha256: false` leaves the digest out of the
 * header (patch then checks the basis length only), for a container that identifies the basis
 * itself, as an image delta does with the old image's DiffIDs.
 * @example
 * const d = new DiffDelta(basis, (c) => out.push(c));
 * d.push(target); d.finish();
 */
export class DiffDelta {
  private readonly writer: DeltaWriter;
  private readonly matcher: DiffMatcher;
  private readonly basis: Uint8Array;
  /** With `inPlace`, the ops wait here until the end, to be ordered for in-place patching. */
  private readonly held: InPlaceOps | undefined;

  constructor(
    basis: Uint8Array | DiffIndex,
    ondata: (chunk: Uint8Array) => void,
    opts: DiffDeltaOptions & { basisSha256?: Uint8Array | false } = {},
  ) {
    const bytes = basis instanceof DiffIndex ? basis.basis : basis;
    // false: the header names no basis digest (the caller's format identifies the basis otherwise).
    const given = opts.basisSha256;
    const basisSha256 = given === false ? undefined : (given ?? hashAll(bytes, opts.sha256 ? opts.sha256() : new Sha256()));
    this.writer = new DeltaWriter(
      'native',
      {
        mode: 'diff',
        basisLength: bytes.length,
        basisSha256,
        codec: opts.level === 0 ? 'stored' : 'deflate',
        level: opts.level,
      },
      ondata,
      opts,
    );
    this.basis = bytes;
    this.held = inPlaceOpsFor(opts);
    this.matcher = new DiffMatcher(basis, this.held ?? this.writer.sink, opts);
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
    this.held?.replay(this.basis, this.writer.sink);
    this.writer.finish();
  }

  /** With `inPlace`: bytes of copies sent as literals to break cycles (0 otherwise). */
  get inPlaceLiteralBytes(): number {
    return this.held?.literalBytes ?? 0;
  }

  /** With `inPlace`: bytes the device will save aside to break cycles (0 when sent as literals). */
  get inPlaceStashBytes(): number {
    return this.held?.stashBytes ?? 0;
  }
}

function hashAll(bytes: Uint8Array, h: Hasher): Uint8Array {
  return h.update(bytes).digest();
}
