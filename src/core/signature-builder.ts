import { checkSignatureParams, resolveSignatureParams, type SignatureParamOptions } from './block-size.js';
import { assertBytes } from './bytes.js';
import { ErrorCode, RolldeltaError } from './errors.js';
import type { Hasher, HasherFactory } from './hash.js';
import type { Signature, SignatureParams } from './params.js';
import { rabinKarpOf } from './rabinkarp.js';
import { weakSum } from './rolling.js';
import { Sha256 } from './sha256.js';
import { createStrongSummer, type StrongSummer } from './strong-hash.js';

/** Default cap on signature blocks: 2^26 blocks is a 64 GiB basis at 1 KiB blocks. */
export const DEFAULT_MAX_BLOCKS = 1 << 26;

/** Options of {@link SignatureBuilder}. */
export interface SignatureBuilderOptions {
  /** SHA-256 for `basisSha256`; default core's pure-TS Sha256 (the Node edge injects node:crypto's). */
  sha256?: HasherFactory;
  /** Most blocks the signature may hold; more throws ERR_LIMIT. Default 2^26 (`DEFAULT_MAX_BLOCKS`). */
  maxBlocks?: number;
  /**
   * Measure the basis SHA-256 (default true). False leaves `basisSha256` undefined: a worker summing one
   * range of a basis cannot know the whole's hash, and skipping it saves a pass over the bytes.
   */
  basisSha256?: boolean;
}

/**
 * Incremental signature of a basis: push chunks of any size, then finish(). Blocks are cut at exact
 * multiples of `blockLength` whatever the chunking (whole blocks are hashed straight from the chunk,
 * only a block split between chunks is buffered); the last block may be short; an empty basis gives
 * no blocks. Also measures the basis length and SHA-256, which the native format carries.
 * Memory: one block of buffer plus the sums, which grow by doubling.
 * @example
 * const b = new SignatureBuilder(resolveSignatureParams(file.length));
 * for (const chunk of chunks) b.push(chunk);
 * const sig = b.finish(); // sig.blockCount, sig.weak, sig.strong
 */
export class SignatureBuilder {
  readonly params: SignatureParams;
  private readonly maxBlocks: number;
  private readonly rabinKarp: boolean;
  private readonly summer: StrongSummer;
  private readonly sha: Hasher | undefined;
  private weak: Uint32Array;
  private strong: Uint8Array;
  private count = 0;
  private length = 0;
  /** A block split between chunks: its first `partialLength` bytes. */
  private readonly partial: Uint8Array;
  private partialLength = 0;
  private finished = false;

  constructor(params: SignatureParams, opts: SignatureBuilderOptions = {}) {
    checkSignatureParams(params);
    // A copy: the caller's object may be mutable.
    const p: SignatureParams = { blockLength: params.blockLength, strongLength: params.strongLength, rollsum: params.rollsum, hash: params.hash };
    this.params = p;
    const maxBlocks = opts.maxBlocks ?? DEFAULT_MAX_BLOCKS;
    if (!Number.isSafeInteger(maxBlocks) || maxBlocks < 0) throw invalid(`maxBlocks must be a non-negative integer, got ${maxBlocks}`);
    this.maxBlocks = maxBlocks;
    this.rabinKarp = p.rollsum === 'rabinkarp';
    this.summer = createStrongSummer(p.hash, { sha256: opts.sha256 });
    this.sha = opts.basisSha256 === false ? undefined : opts.sha256 ? opts.sha256() : new Sha256();
    this.weak = new Uint32Array(16);
    this.strong = new Uint8Array(16 * p.strongLength);
    this.partial = new Uint8Array(p.blockLength);
  }

  /** Adds the next bytes of the basis. */
  push(chunk: Uint8Array): void {
    assertBytes(chunk, 'chunk');
    if (this.finished) throw invalid('push() after finish(): make a new SignatureBuilder for another basis');
    const n = chunk.length;
    if (n === 0) return;
    this.sha?.update(chunk);
    this.length += n;
    const bl = this.params.blockLength;
    let i = 0;
    if (this.partialLength > 0) {
      const take = Math.min(bl - this.partialLength, n);
      this.partial.set(chunk.subarray(0, take), this.partialLength);
      this.partialLength += take;
      i = take;
      if (this.partialLength < bl) return;
      this.addBlock(this.partial, 0, bl);
      this.partialLength = 0;
    }
    for (; i + bl <= n; i += bl) this.addBlock(chunk, i, i + bl);
    if (i < n) {
      this.partial.set(chunk.subarray(i), 0);
      this.partialLength = n - i;
    }
  }

  /** Hashes a pending short last block and returns the signature; the builder is done. */
  finish(): Signature {
    if (this.finished) throw invalid('finish() called twice: make a new SignatureBuilder for another basis');
    this.finished = true;
    if (this.partialLength > 0) this.addBlock(this.partial, 0, this.partialLength);
    this.partialLength = 0;
    const n = this.count;
    const p = this.params;
    return {
      blockLength: p.blockLength,
      strongLength: p.strongLength,
      rollsum: p.rollsum,
      hash: p.hash,
      blockCount: n,
      weak: this.weak.slice(0, n),
      strong: this.strong.slice(0, n * p.strongLength),
      basisLength: this.length,
      basisSha256: this.sha?.digest(),
    };
  }

  private addBlock(data: Uint8Array, start: number, end: number): void {
    const i = this.count;
    if (i >= this.maxBlocks) {
      throw new RolldeltaError(
        ErrorCode.LIMIT,
        `the signature would need more than ${this.maxBlocks} blocks of ${this.params.blockLength} bytes: use a larger blockLength or raise maxBlocks`,
      );
    }
    const sl = this.params.strongLength;
    if (i === this.weak.length) {
      const weak = new Uint32Array(i * 2);
      weak.set(this.weak);
      this.weak = weak;
      const strong = new Uint8Array(i * 2 * sl);
      strong.set(this.strong);
      this.strong = strong;
    }
    this.weak[i] = this.rabinKarp ? rabinKarpOf(data, start, end) : weakSum('rollsum', data, start, end);
    this.summer.sumInto(data, start, end, this.strong, i * sl, sl);
    this.count = i + 1;
  }
}

/**
 * Signature of a whole basis in memory; parameters default to rdiff's for its length.
 * @example
 * const sig = buildSignature(oldBytes, { hash: 'md4', blockLength: 1024 });
 */
export function buildSignature(basis: Uint8Array, opts: SignatureParamOptions & SignatureBuilderOptions = {}): Signature {
  assertBytes(basis, 'basis');
  const b = new SignatureBuilder(resolveSignatureParams(basis.length, opts), opts);
  b.push(basis);
  return b.finish();
}

function invalid(message: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, message);
}
