import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import { ByteReader, corrupt, DecoderState, overLimit, truncated } from './_reader.js';
import { resolveLimits, type DecodeLimits } from './limits.js';
import { RDIFF_DELTA_MAGIC, RS_OP_COPY, RS_OP_LITERAL_N1 } from './rdiff-magic.js';

const S_MAGIC = 0;
const S_COMMAND = 1;
const S_LITERAL = 2;
const S_DONE = 3;

const WIDTH = [1, 2, 4, 8];
const MAGIC = [RDIFF_DELTA_MAGIC >>> 24, (RDIFF_DELTA_MAGIC >>> 16) & 0xff, (RDIFF_DELTA_MAGIC >>> 8) & 0xff, RDIFF_DELTA_MAGIC & 0xff];

/** Options of the rdiff delta decoder. */
export interface RdiffDeltaDecoderOptions {
  limits?: Partial<DecodeLimits>;
}

/**
 * Incremental decoder of a librsync (rdiff) delta into an OpSink. Literal data is streamed to
 * `sink.literal` in the pieces it arrives in, so a command claiming a huge literal allocates
 * nothing. Reserved opcodes (0x55-0xff), zero lengths and bytes after END are ERR_CORRUPT
 * (rdiff itself ignores bytes after END; rolldelta refuses them so a concatenated or
 * mis-framed file is noticed).
 * @example
 * const ops = new OpCollector();
 * const dec = new RdiffDeltaDecoder(ops);
 * dec.push(readFileSync('new.delta'), true);
 */
export class RdiffDeltaDecoder {
  private readonly sink: OpSink;
  private readonly limits: DecodeLimits;
  private readonly reader = new ByteReader();
  private readonly state = new DecoderState();
  private stage = S_MAGIC;
  private remaining = 0;
  private total = 0;

  constructor(sink: OpSink, opts: RdiffDeltaDecoderOptions = {}) {
    this.sink = sink;
    this.limits = resolveLimits(opts.limits);
  }

  /** Feeds the next bytes; `final` says the delta ends here (no END yet: ERR_TRUNCATED). */
  push(chunk: Uint8Array, final = false): void {
    this.state.check();
    try {
      this.reader.push(chunk);
      this.run();
      if (final) {
        this.state.finished = true;
        if (this.stage !== S_DONE) {
          const what = ['the magic', 'the command list (no END)', `a literal (${this.remaining} bytes missing)`][this.stage];
          throw truncated(what, this.reader.offset);
        }
      }
      this.reader.keep();
    } catch (e) {
      this.state.error = e;
      throw e;
    }
  }

  private run(): void {
    const r = this.reader;
    const sink = this.sink;
    for (;;) {
      const avail = r.available;
      if (this.stage === S_LITERAL) {
        if (avail === 0) return;
        const piece = r.some(this.remaining);
        this.remaining -= piece.length;
        if (this.remaining === 0) this.stage = S_COMMAND;
        sink.literal(piece);
        continue;
      }
      if (this.stage === S_COMMAND) {
        if (avail === 0) return;
        const op = r.peek(0);
        if (op === 0) {
          r.u8();
          this.stage = S_DONE;
          continue;
        }
        if (op <= 0x40) {
          r.u8();
          this.startLiteral(op, r.offset - 1);
          continue;
        }
        if (op < RS_OP_COPY) {
          const w = WIDTH[op - RS_OP_LITERAL_N1];
          if (avail < 1 + w) return;
          const at = r.offset;
          r.u8();
          const length = this.int(w, at);
          if (length === 0) throw corrupt('a LITERAL command of length 0', at);
          this.startLiteral(length, at);
          continue;
        }
        if (op > RS_OP_COPY + 15) throw corrupt(`reserved opcode 0x${op.toString(16)}`, r.offset);
        const wo = WIDTH[(op - RS_OP_COPY) >> 2];
        const wl = WIDTH[(op - RS_OP_COPY) & 3];
        if (avail < 1 + wo + wl) return;
        const at = r.offset;
        r.u8();
        const offset = this.int(wo, at);
        const length = this.int(wl, at);
        if (length === 0) throw corrupt('a COPY command of length 0', at);
        if (offset + length > Number.MAX_SAFE_INTEGER) {
          throw new RolldeltaError(ErrorCode.LIMIT, `a COPY at byte ${at} ends beyond 2^53, past what JavaScript numbers hold exactly; rolldelta cannot apply this delta`);
        }
        this.grow(length);
        sink.copy(offset, length);
        continue;
      }
      if (this.stage === S_MAGIC) {
        for (let i = 0; i < 4 && i < avail; i++) {
          if (r.peek(i) !== MAGIC[i]) {
            throw new RolldeltaError(ErrorCode.BAD_MAGIC, 'this is not an rdiff delta (it does not start with 72 73 02 36); check which file was given');
          }
        }
        if (avail < 4) return;
        r.u32();
        this.stage = S_COMMAND;
        continue;
      }
      if (avail > 0) throw corrupt(`${avail} bytes follow the END command`, r.offset);
      return;
    }
  }

  private startLiteral(length: number, at: number): void {
    if (length > this.limits.maxLiteralBytes) throw overLimit(`the literal at byte ${at}`, length, 'maxLiteralBytes', this.limits.maxLiteralBytes);
    this.grow(length);
    this.remaining = length;
    this.stage = S_LITERAL;
  }

  private grow(length: number): void {
    const total = this.total + length;
    if (total > this.limits.maxTargetLength) throw overLimit('the target length', total, 'maxTargetLength', this.limits.maxTargetLength);
    this.total = total;
  }

  /** Reads a big-endian integer of `w` bytes; 8-byte values beyond 2^53 - 1 are ERR_LIMIT. */
  private int(w: number, at: number): number {
    const r = this.reader;
    if (w === 1) return r.u8();
    if (w === 2) return (r.u8() << 8) | r.u8();
    if (w === 4) return r.u32();
    const hi = r.u32();
    const lo = r.u32();
    if (hi >= 0x200000) {
      throw new RolldeltaError(ErrorCode.LIMIT, `a command at byte ${at} holds a 64-bit value of 2^${Math.floor(Math.log2(hi)) + 32} or more, beyond what JavaScript numbers hold exactly (2^53); rolldelta cannot apply this delta`);
    }
    return hi * 0x100000000 + lo;
  }
}
