/**
 * The incremental-hash shape every hash in core follows (noble-hashes style):
 * `h.update(a).update(b).digest()`. A hasher must not be updated after digest().
 */
export interface Hasher {
  update(data: Uint8Array): this;
  digest(): Uint8Array;
}

/** A factory of fresh hashers; lets the Node edge inject node:crypto's SHA-256 into core code. */
export type HasherFactory = () => Hasher;
