/**
 * librsync signature files: `u32 magic | u32 blockLength | u32 strongLength`, then per block
 * `u32 weak | strong[strongLength]`, until the input ends (no count, no checksum).
 */
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Signature } from '../core/params.js';
import { BlockTable, checkBlockLength, checkStrongLength } from './_block-table.js';
import { ByteReader, DecoderState, overLimit, readU32, truncated, writeU32 } from './_reader.js';
import { resolveLimits, type DecodeLimits } from './limits.js';
import { assertSignature } from './native-signature.js';
import { rdiffSignatureMagic, rdiffSignatureParams } from './rdiff-magic.js';

/**
 * Encodes a signature as librsync writes it (byte-identical to `rdiff signature` with the same
 * parameters). The basis length and hash are not part of this format and are dropped.
 * @example
 * writeFileSync('old.sig', encodeRdiffSignature(sig)); // then: rdiff delta old.sig new new.delta
 */
export function encodeRdiffSignature(sig: Signature): Uint8Array {
  assertSignature(sig);
  const { blockCount: n, strongLength: L, weak, strong } = sig;
  const out = new Uint8Array(12 + n * (4 + L));
  writeU32(out, 0, rdiffSignatureMagic(sig.rollsum, sig.hash));
  writeU32(out, 4, sig.blockLength);
  writeU32(out, 8, L);
  for (let i = 0, p = 12; i < n; i++) {
    writeU32(out, p, weak[i]);
    out.set(strong.subarray(i * L, i * L + L), p + 4);
    p += 4 + L;
  }
  return out;
}

const RS_PREFIX = [0x72, 0x73, 0x01];

/**
 * Incremental decoder of a librsync signature. The block count is not known up front: the
 * arrays grow by doubling, up to `limits.maxSignatureBlocks` (then ERR_LIMIT).
 * @example
 * const d = new RdiffSignatureDecoder();
 * d.push(bytes, true);
 * const sig = d.result(); // no basisLength / basisSha256
 */
export class RdiffSignatureDecoder {
  private readonly limits: DecodeLimits;
  private readonly reader = new ByteReader();
  private readonly state = new DecoderState();
  private head: Omit<Signature, 'weak' | 'strong' | 'blockCount'> | undefined = undefined;
  private table: BlockTable | undefined = undefined;
  private count = 0;
  private sig: Signature | undefined = undefined;

  constructor(opts: { limits?: Partial<DecodeLimits> } = {}) {
    this.limits = resolveLimits(opts.limits);
  }

  /** Feeds the next bytes; `final` says the signature ends here. */
  push(chunk: Uint8Array, final = false): void {
    this.state.check();
    try {
      this.reader.push(chunk);
      this.run();
      if (final) {
        this.state.finished = true;
        const r = this.reader;
        if (!this.head) throw truncated('the signature header (12 bytes)', r.offset);
        if (r.available > 0) throw truncated(`block ${this.count + 1} (${r.available} of ${4 + this.head.strongLength} bytes)`, r.offset);
        const { weak, strong } = this.table!.trimmed(this.count);
        this.sig = { ...this.head, blockCount: this.count, weak, strong };
      }
      this.reader.keep();
    } catch (e) {
      this.state.error = e;
      throw e;
    }
  }

  /** The decoded signature, available after the final push. */
  result(): Signature {
    if (this.state.error !== undefined) throw this.state.error;
    if (!this.sig) throw truncated('the signature (no final push yet)', this.reader.offset);
    return this.sig;
  }

  private run(): void {
    const r = this.reader;
    if (!this.head) {
      const avail = r.available;
      for (let i = 0; i < 4 && i < avail; i++) {
        const b = r.peek(i);
        if (i < 3 ? b !== RS_PREFIX[i] : rdiffSignatureParams(0x72730100 | b) === undefined) {
          throw new RolldeltaError(ErrorCode.BAD_MAGIC, 'this is not an rdiff signature (bad magic); check which file was given');
        }
      }
      if (avail < 12) return;
      const at = r.offset;
      const params = rdiffSignatureParams(r.u32())!;
      const blockLength = r.u32();
      const strongLength = r.u32();
      checkBlockLength(blockLength, at + 4);
      checkStrongLength(strongLength, params.hash, at + 8);
      this.head = { blockLength, strongLength, rollsum: params.rollsum, hash: params.hash };
      this.table = new BlockTable(strongLength, this.limits.maxSignatureBlocks, 256);
    }
    const L = this.head.strongLength;
    const size = 4 + L;
    const k = Math.floor(r.available / size);
    if (k === 0) return;
    const need = this.count + k;
    if (need > this.limits.maxSignatureBlocks) {
      throw overLimit('the signature block count', need, 'maxSignatureBlocks', this.limits.maxSignatureBlocks);
    }
    const table = this.table!;
    table.reserve(need);
    const view = r.bytes(k * size);
    const weak = table.weak;
    const strong = table.strong;
    let s = this.count * L;
    for (let p = 0, i = this.count; p < view.length; p += size, i++, s += L) {
      weak[i] = readU32(view, p);
      strong.set(view.subarray(p + 4, p + size), s);
    }
    this.count = need;
  }
}

/**
 * Decodes a whole librsync signature file.
 * @example
 * const sig = decodeRdiffSignature(readFileSync('old.sig'));
 */
export function decodeRdiffSignature(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Signature {
  const d = new RdiffSignatureDecoder({ limits });
  d.push(bytes, true);
  return d.result();
}
