import type { IndexedBasis } from '../stream/diff-index-build.js';

export type { IndexedBasis };

/**
 * Keeps the indexes of the most recently used old images (a delta server sees a few popular
 * bases), so a new pair from a known base skips reading and indexing the whole old image.
 * Memory: each entry holds the old image's layers uncompressed plus its index.
 * @example
 * const cache = new BasisCache(2);
 * await diffImages(oldTar, newTar, out, { basisCache: cache });
 */
export class BasisCache {
  private readonly entries = new Map<string, IndexedBasis>();
  /** Lookups answered from the cache, for monitoring. */
  hits = 0;

  constructor(readonly maxEntries = 2) {}

  get(imageId: string): IndexedBasis | undefined {
    const e = this.entries.get(imageId);
    if (!e) return undefined;
    this.hits++;
    this.entries.delete(imageId);
    this.entries.set(imageId, e); // most recently used last
    return e;
  }

  set(imageId: string, value: IndexedBasis): void {
    this.entries.delete(imageId);
    this.entries.set(imageId, value);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}
