import type { Hasher } from '../core/hash.js';

/**
 * SHA-256s of consecutive ranges of a buffer that fills front to back (an image's layers laid end
 * to end): `upTo(n)` hashes what is new below `n`; `digests` holds one digest per range ended so
 * far. The ranges end at `ends` (ascending; an empty range's digest is the empty input's).
 * @example
 * const r = new RangeSha256(basis, [layer1Bytes, layer1Bytes + layer2Bytes], nodeSha256);
 * r.upTo(basis.length); // r.digests: the two layers' SHA-256s
 */
export class RangeSha256 {
  readonly digests: Uint8Array[] = [];
  private at = 0;
  private h: Hasher;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly ends: readonly number[],
    private readonly sha256: () => Hasher,
  ) {
    this.h = sha256();
  }

  upTo(n: number): void {
    const { ends } = this;
    while (this.digests.length < ends.length) {
      const end = ends[this.digests.length];
      const stop = Math.min(end, n);
      if (stop > this.at) {
        this.h.update(this.bytes.subarray(this.at, stop));
        this.at = stop;
      }
      if (this.at < end) return;
      this.digests.push(this.h.digest());
      this.h = this.sha256();
    }
  }
}
