/** Names of the rolling (weak) checksums: rsync's Adler-style sum and librsync's Rabin-Karp. */
export type RollsumName = 'rollsum' | 'rabinkarp';

/**
 * Names of the strong hashes a signature can use. librsync knows BLAKE2b and MD4; the native
 * format defaults to SHA-256, which Node computes in hardware (about ten times pure-TS BLAKE2b).
 */
export type StrongHashName = 'blake2b' | 'md4' | 'sha256';

/** What a signature is made with; everything a matcher needs to know besides the sums. */
export interface SignatureParams {
  /** Bytes per block; the last block of the basis may be shorter. */
  readonly blockLength: number;
  /** Bytes kept of each strong sum (a prefix of the full digest). */
  readonly strongLength: number;
  readonly rollsum: RollsumName;
  readonly hash: StrongHashName;
}

/**
 * A signature in memory: one weak sum and one truncated strong sum per basis block.
 * `strong` holds `blockCount * strongLength` bytes, block i at `i * strongLength`.
 * `basisLength`/`basisSha256` are known when rolldelta built the signature (native format),
 * absent when it came from an rdiff signature file.
 */
export interface Signature extends SignatureParams {
  readonly blockCount: number;
  readonly weak: Uint32Array;
  readonly strong: Uint8Array;
  readonly basisLength?: number;
  readonly basisSha256?: Uint8Array;
}
