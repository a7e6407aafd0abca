/**
 * Native rolldelta signature format, version 1 (also in docs/FORMAT.md):
 *
 *   magic   72 64 73 67 ("rdsg"), then version 01
 *   header  u32 length | msgpack map | u32 crc32(length field + map), the map holding
 *           { blockLength, strongLength, rollsum, hash, blockCount, basisLength?, basisSha256? }
 *   weak    blockCount x u32 BE
 *   strong  blockCount x strongLength bytes
 *   crc     u32 crc32(weak + strong)
 *
 * Nothing may follow. When basisLength is present, blockCount must be ceil(basisLength / blockLength).
 */
import { crc32 } from '../core/crc32.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Signature, StrongHashName } from '../core/params.js';
import { BlockTable, checkBlockLength, checkStrongLength } from './_block-table.js';
import { encodeHeaderBlock, optDigest, optUint, reqName, reqUint } from './_header-block.js';
import { takeHeaderBlock, takeMagicAndVersion } from './_native-prelude.js';
import { ByteReader, corrupt, DecoderState, overLimit, truncated, writeU32 } from './_reader.js';
import { resolveLimits, type DecodeLimits } from './limits.js';
import { NATIVE_SIGNATURE_MAGIC, NATIVE_VERSION } from './native-magic.js';
import { STRONG_MAX_LENGTH } from '../core/strong-hash.js';

const ROLLSUMS = ['rollsum', 'rabinkarp'] as const;
const HASHES = ['blake2b', 'md4', 'sha256'] as const;

/** Throws ERR_INVALID_ARGUMENT when `sig` is not a well-formed Signature (shared by both encoders). */
export function assertSignature(sig: Signature): void {
  const bad = (what: string): never => {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `invalid signature: ${what}`);
  };
  if (!Number.isInteger(sig.blockLength) || sig.blockLength < 1 || sig.blockLength > 0xffffffff) bad(`blockLength ${sig.blockLength}`);
  if (!ROLLSUMS.includes(sig.rollsum)) bad(`rollsum ${String(sig.rollsum)}`);
  if (!HASHES.includes(sig.hash)) bad(`hash ${String(sig.hash)}`);
  const max = STRONG_MAX_LENGTH[sig.hash as StrongHashName];
  if (!Number.isInteger(sig.strongLength) || sig.strongLength < 1 || sig.strongLength > max) bad(`strongLength ${sig.strongLength} (1..${max} for ${sig.hash})`);
  if (!Number.isInteger(sig.blockCount) || sig.blockCount < 0) bad(`blockCount ${sig.blockCount}`);
  if (!(sig.weak instanceof Uint32Array) || sig.weak.length < sig.blockCount) bad('weak must be a Uint32Array of blockCount sums');
  if (!(sig.strong instanceof Uint8Array) || sig.strong.length < sig.blockCount * sig.strongLength) bad('strong must hold blockCount * strongLength bytes');
}

/**
 * Encodes a signature in the native format (built whole: its size is known from blockCount).
 * @example
 * const bytes = encodeNativeSignature(sig);
 * decodeNativeSignature(bytes); // equal to sig
 */
export function encodeNativeSignature(sig: Signature): Uint8Array {
  assertSignature(sig);
  const { blockCount: n, strongLength: L } = sig;
  if (sig.basisLength !== undefined && n !== Math.ceil(sig.basisLength / sig.blockLength)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `invalid signature: ${n} blocks for a basis of ${sig.basisLength} bytes in blocks of ${sig.blockLength}`);
  }
  const block = encodeHeaderBlock({
    blockLength: sig.blockLength,
    strongLength: L,
    rollsum: sig.rollsum,
    hash: sig.hash,
    blockCount: n,
    basisLength: sig.basisLength,
    basisSha256: sig.basisSha256,
  });
  const start = 5 + block.length;
  const out = new Uint8Array(start + n * (4 + L) + 4);
  out.set(NATIVE_SIGNATURE_MAGIC);
  out[4] = NATIVE_VERSION;
  out.set(block, 5);
  const weak = sig.weak;
  for (let i = 0, p = start; i < n; i++, p += 4) writeU32(out, p, weak[i]);
  out.set(sig.strong.subarray(0, n * L), start + 4 * n);
  const end = out.length - 4;
  writeU32(out, end, crc32(out.subarray(start, end)));
  return out;
}

const S_MAGIC = 0;
const S_HEADER = 1;
const S_WEAK = 2;
const S_STRONG = 3;
const S_CRC = 4;
const S_DONE = 5;

/**
 * Incremental decoder of a native signature: push chunks, then take `result()`. The block count
 * is checked against `limits.maxSignatureBlocks` before anything is allocated, and the arrays
 * grow with the data actually received.
 * @example
 * const d = new NativeSignatureDecoder();
 * for (const c of chunks) d.push(c);
 * d.push(new Uint8Array(0), true);
 * const sig = d.result();
 */
export class NativeSignatureDecoder {
  private readonly limits: DecodeLimits;
  private readonly reader = new ByteReader();
  private readonly state = new DecoderState();
  private stage = S_MAGIC;
  private table: BlockTable | undefined = undefined;
  private head: Omit<Signature, 'weak' | 'strong'> | undefined = undefined;
  private weakDone = 0;
  private strongDone = 0;
  private crc = 0;
  private sig: Signature | undefined = undefined;

  constructor(opts: { limits?: Partial<DecodeLimits> } = {}) {
    this.limits = resolveLimits(opts.limits);
  }

  /** Feeds the next bytes; `final` says no more follow. */
  push(chunk: Uint8Array, final = false): void {
    this.state.check();
    try {
      this.reader.push(chunk);
      this.run();
      if (final) {
        this.state.finished = true;
        if (this.stage !== S_DONE) throw truncated(this.expecting(), this.reader.offset);
      }
      this.reader.keep();
    } catch (e) {
      this.state.error = e;
      throw e;
    }
  }

  /** The decoded signature; ERR_TRUNCATED before the input was complete. */
  result(): Signature {
    if (this.state.error !== undefined) throw this.state.error;
    if (!this.sig) throw truncated(this.expecting(), this.reader.offset);
    return this.sig;
  }

  private expecting(): string {
    return ['the magic and version', 'the header', 'the weak sums', 'the strong sums', 'the final CRC', 'nothing'][this.stage];
  }

  private run(): void {
    const r = this.reader;
    for (;;) {
      const avail = r.available;
      switch (this.stage) {
        case S_MAGIC: {
          if (!takeMagicAndVersion(r, NATIVE_SIGNATURE_MAGIC, 'signature')) return;
          this.stage = S_HEADER;
          break;
        }
        case S_HEADER: {
          const block = takeHeaderBlock(r, this.limits.maxHeaderBytes);
          if (!block) return;
          this.readHeader(block.map, block.at);
          this.stage = this.head!.blockCount === 0 ? S_CRC : S_WEAK;
          break;
        }
        case S_WEAK: {
          const count = this.head!.blockCount;
          const k = Math.min(avail >>> 2, count - this.weakDone);
          if (k === 0) return;
          const table = this.table!;
          table.reserve(this.weakDone + k);
          const view = r.bytes(k * 4);
          this.crc = crc32(view, this.crc);
          const weak = table.weak;
          for (let i = 0, j = this.weakDone; i < view.length; i += 4, j++) {
            weak[j] = ((view[i] << 24) | (view[i + 1] << 16) | (view[i + 2] << 8) | view[i + 3]) >>> 0;
          }
          this.weakDone += k;
          if (this.weakDone === count) this.stage = S_STRONG;
          break;
        }
        case S_STRONG: {
          const total = this.head!.blockCount * this.head!.strongLength;
          if (avail === 0) return;
          const view = r.some(total - this.strongDone);
          this.crc = crc32(view, this.crc);
          this.table!.strong.set(view, this.strongDone);
          this.strongDone += view.length;
          if (this.strongDone === total) this.stage = S_CRC;
          break;
        }
        case S_CRC: {
          if (avail < 4) return;
          const at = r.offset;
          if (r.u32() !== this.crc >>> 0) {
            throw new RolldeltaError(ErrorCode.CHECKSUM, `the signature's CRC32 (at byte ${at}) does not match its sums; the file is damaged, fetch it again`);
          }
          const h = this.head!;
          const { weak, strong } = this.table ? this.table.trimmed(h.blockCount) : { weak: new Uint32Array(0), strong: new Uint8Array(0) };
          this.sig = { ...h, weak, strong };
          this.stage = S_DONE;
          break;
        }
        default: {
          if (avail > 0) throw corrupt(`${avail} bytes follow the signature`, r.offset);
          return;
        }
      }
    }
  }

  private readHeader(map: Record<string, unknown>, at: number): void {
    const lim = this.limits;
    const blockLength = reqUint(map, 'blockLength');
    const strongLength = reqUint(map, 'strongLength');
    const rollsum = reqName(map, 'rollsum', ROLLSUMS);
    const hash = reqName(map, 'hash', HASHES);
    const blockCount = reqUint(map, 'blockCount');
    const basisLength = optUint(map, 'basisLength');
    const basisSha256 = optDigest(map, 'basisSha256');
    checkBlockLength(blockLength, at);
    checkStrongLength(strongLength, hash, at);
    if (blockCount > lim.maxSignatureBlocks) throw overLimit('the signature block count', blockCount, 'maxSignatureBlocks', lim.maxSignatureBlocks);
    if (basisLength !== undefined && blockCount !== Math.ceil(basisLength / blockLength)) {
      throw corrupt(`${blockCount} blocks for a basis of ${basisLength} bytes in blocks of ${blockLength}`, at);
    }
    const head: { -readonly [K in keyof Signature]?: Signature[K] } = { blockLength, strongLength, rollsum, hash, blockCount };
    if (basisLength !== undefined) head.basisLength = basisLength;
    if (basisSha256 !== undefined) head.basisSha256 = basisSha256;
    this.head = head as Omit<Signature, 'weak' | 'strong'>;
    if (blockCount > 0) this.table = new BlockTable(strongLength, blockCount, blockCount);
  }
}

/**
 * Decodes a whole native signature.
 * @example
 * const sig = decodeNativeSignature(bytes, { maxSignatureBlocks: 1 << 20 });
 */
export function decodeNativeSignature(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Signature {
  const d = new NativeSignatureDecoder({ limits });
  d.push(bytes, true);
  return d.result();
}
