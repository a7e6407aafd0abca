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

/**
 * A hasher that works elsewhere (a worker thread at the Node edge), so the thread that feeds it
 * does not wait for the hashing: `update` hands the bytes over (copied: the caller may reuse them
 * at once), `digest` resolves once everything handed over is hashed.
 */
export interface BackgroundHasher {
  update(data: Uint8Array): void;
  /** Resolves once at most `maxBytes` handed over are still waiting to be hashed; rejects if hashing failed. */
  caughtUp(maxBytes: number): Promise<void>;
  /** The digest of every byte handed over; nothing may be handed over after it. */
  digest(): Promise<Uint8Array>;
}
