import { inflateSync } from 'fflate';
import { type Sections, unpackSections } from './_frame-sections.js';
import { copyBytes, equalBytes } from '../core/bytes.js';
import { crc32 } from '../core/crc32.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import { takeHeaderBlock, takeMagicAndVersion } from './_native-prelude.js';
import { ByteReader, corrupt, DecoderState, overLimit, truncated } from './_reader.js';
import { deltaHeaderFromMap, type DeltaHeader } from './delta-header.js';
import { resolveLimits, type DecodeLimits } from './limits.js';
import { CODEC_DEFLATE, CODEC_LITERAL, CODEC_SECTIONS, CODEC_SECTIONS_CM, CODEC_STORED, FRAME_HEAD, FRAME_OPS, FRAME_TRAILER, MAX_NATIVE_VALUE, OP_ADD, OP_COPY, TRAILER_MAX, TRAILER_MIN } from './native-codes.js';
import type { NativeTrailer } from './native-delta-encoder.js';
import { NATIVE_DELTA_MAGIC } from './native-magic.js';
import { Cursor, unzigzag } from './varint.js';
import { fflateRawDeflate, type RawDeflate } from './raw-deflate.js';

/**
 * Work per byte that a patch does in JavaScript (everything else per byte is native at the Node
 * edge): the decoder's two codecs written in JavaScript, and applying ADD ops' differences.
 */
export type JavaScriptWork = 'context-mixing' | 'inflate' | 'add';

/** Options of the native delta decoder. */
export interface NativeDeltaDecoderOptions {
  limits?: Partial<DecodeLimits>;
  /** Called once, before any op: refuse a wrong basis here by throwing. */
  onheader?: (header: DeltaHeader) => void;
  /** Called once after the trailer was checked (frame count and target length). */
  onend?: (trailer: NativeTrailer) => void;
  /** DEFLATE implementation (default fflate's; the Node edges pass node:zlib's). */
  rawDeflate?: RawDeflate;
  /**
   * Stop after each ops frame: `push` returns once a frame's ops are out, keeps the bytes after
   * it, and sets `paused`; push an empty chunk (with the same `final`) to go on. For a sink that
   * holds ops until the caller drains it (patchChunks): a few KiB of delta can pack many 1 MiB
   * frames of literals, and without pausing the sink would hold them all at once.
   */
  frameByFrame?: boolean;
  /**
   * Decode only the ops' kinds, lengths and offsets: the literal and diff sections of sectioned
   * frames are not unpacked, and the sink receives views of unspecified bytes for them. For a
   * first pass that needs only the delta's shape (in-place patching plans its copies before it
   * writes anything): at level 9 the literals' context mixing is nearly all of the decoding.
   * Frames are checked as always (CRC, structure), but not the bytes left out.
   */
  opsOnly?: boolean;
  /**
   * Called before per-byte work in JavaScript, with its kind and bytes: context mixing (level 9)
   * on a frame, fflate's inflater on a payload that inflates more than 32x (see inflate()), and a
   * frame's ADD ops (before they are emitted: the patcher adds their differences byte by byte).
   * Everything else a patch does per byte is native. The CLI's streaming patch commands run
   * without V8's optimizing compiler and switch it on here once there is enough such work to pay
   * for it (cli/optimizing-compiler.ts).
   */
  beforeJavaScriptWork?: (kind: JavaScriptWork, bytes: number) => void;
}

const S_MAGIC = 0;
const S_HEADER = 1;
const S_FRAME_HEAD = 2;
const S_FRAME_BODY = 3;
const S_DONE = 4;

/**
 * Incremental decoder of a native rolldelta v1 delta (see native-delta-encoder.ts for the format):
 * any chunking of the input gives the same ops. Each frame is checked (CRC, structure) before
 * any of its ops reaches the sink; memory is bounded by `limits.maxFrameBytes`.
 * @example
 * const ops = new OpCollector();
 * const dec = new NativeDeltaDecoder(ops, { onheader: (h) => checkBasis(h) });
 * dec.push(part1); dec.push(part2, true);
 */
export class NativeDeltaDecoder {
  /** The header, once read. */
  header: DeltaHeader | undefined = undefined;
  /** With `frameByFrame`: the last push stopped after a frame; push an empty chunk to go on. */
  paused = false;
  private readonly sink: OpSink;
  private readonly limits: DecodeLimits;
  private readonly onheader: ((header: DeltaHeader) => void) | undefined;
  private readonly onend: ((trailer: NativeTrailer) => void) | undefined;
  private readonly rawDeflate: RawDeflate;
  /** Where sectioned frames are rebuilt, reused frame after frame. */
  private scratch = new Uint8Array(0);
  /** Where highly compressed payloads are inflated (see inflate()), reused likewise. */
  private inflated = new Uint8Array(0);
  private readonly reader = new ByteReader();
  private readonly state = new DecoderState();
  private stage = S_MAGIC;
  private frameType = 0;
  private bodyLength = 0;
  private bodyCrc = 0;
  private frames = 0;
  private total = 0;
  private readonly frameByFrame: boolean;
  private readonly opsOnly: boolean;
  private readonly beforeJavaScriptWork: NativeDeltaDecoderOptions['beforeJavaScriptWork'];

  constructor(sink: OpSink, opts: NativeDeltaDecoderOptions = {}) {
    this.sink = sink;
    this.limits = resolveLimits(opts.limits);
    this.onheader = opts.onheader;
    this.onend = opts.onend;
    this.rawDeflate = opts.rawDeflate ?? fflateRawDeflate;
    this.frameByFrame = opts.frameByFrame === true;
    this.opsOnly = opts.opsOnly === true;
    this.beforeJavaScriptWork = opts.beforeJavaScriptWork;
  }

  /**
   * Inflates a frame or a section of one. A payload that inflates more than HIGH_RATIO times (long
   * runs, zeros) goes through fflate into a reused buffer: node:zlib returns a fresh buffer per
   * call, and such frames decode so fast that dozens of 1 MiB buffers waited for a collection (a
   * 68 KB delta of 64 MiB of zeros: patch peak RSS 85 MiB). fflate is 3-10x slower than zlib, which
   * such payloads, small for what they yield, can afford. The result lives until the next call.
   */
  private inflate(payload: Uint8Array, rawLength: number, at: number): Uint8Array {
    if (payload.length * HIGH_RATIO >= rawLength) return inflateBounded(() => this.rawDeflate.inflate(payload, rawLength), rawLength, at);
    if (this.inflated.length <= rawLength) this.inflated = new Uint8Array(Math.max(rawLength + 1, Math.min(2 * this.inflated.length, this.limits.maxFrameBytes + 1)));
    // One byte more than promised: fflate stops there, so a longer stream shows as such.
    const out = this.inflated.subarray(0, rawLength + 1);
    this.beforeJavaScriptWork?.('inflate', rawLength);
    return inflateBounded(() => inflateSync(payload, { out }), rawLength, at);
  }

  /** The first `n` bytes of the reused frame buffer, grown (at most to the frame limit) when short. */
  private scratchOf(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, Math.min(2 * this.scratch.length, this.limits.maxFrameBytes)));
    return this.scratch.subarray(0, n);
  }

  /** Feeds the next bytes; `final` says no more follow (an incomplete delta is ERR_TRUNCATED). */
  push(chunk: Uint8Array, final = false): void {
    this.state.check();
    try {
      this.reader.push(chunk);
      this.paused = false;
      this.run();
      if (final && !this.paused) {
        this.state.finished = true;
        if (this.stage !== S_DONE) throw truncated(this.expecting(), this.reader.offset);
      }
      this.reader.keep();
    } catch (e) {
      this.state.error = e;
      throw e;
    }
  }

  private expecting(): string {
    switch (this.stage) {
      case S_MAGIC:
        return 'the magic and version';
      case S_HEADER:
        return 'the header';
      case S_FRAME_HEAD:
        return this.frames === 0 && this.total === 0 ? 'the first frame' : 'the frame list (no trailer yet)';
      default:
        return this.frameType === FRAME_TRAILER ? 'the trailer' : `frame ${this.frames + 1}`;
    }
  }

  private run(): void {
    const r = this.reader;
    const lim = this.limits;
    for (;;) {
      const avail = r.available;
      switch (this.stage) {
        case S_MAGIC: {
          if (!takeMagicAndVersion(r, NATIVE_DELTA_MAGIC, 'delta')) return;
          this.stage = S_HEADER;
          break;
        }
        case S_HEADER: {
          const block = takeHeaderBlock(r, lim.maxHeaderBytes);
          if (!block) return;
          const h = deltaHeaderFromMap(block.map);
          if (h.targetLength !== undefined && h.targetLength > lim.maxTargetLength) {
            throw overLimit('the target length', h.targetLength, 'maxTargetLength', lim.maxTargetLength);
          }
          this.header = h;
          this.stage = S_FRAME_HEAD;
          this.onheader?.(h);
          break;
        }
        case S_FRAME_HEAD: {
          if (avail < 1) return;
          const type = r.peek(0);
          if (type !== FRAME_OPS && type !== FRAME_TRAILER) throw corrupt(`unknown frame type 0x${type.toString(16)}`, r.offset);
          if (avail < FRAME_HEAD) return;
          const at = r.offset;
          r.u8();
          const len = r.u32();
          this.bodyCrc = r.u32();
          if (type === FRAME_TRAILER) {
            if (len < TRAILER_MIN || len > TRAILER_MAX) throw corrupt(`a trailer of ${len} bytes (expected ${TRAILER_MIN} to ${TRAILER_MAX})`, at);
          } else {
            if (len < 2) throw corrupt(`an ops frame of ${len} bytes`, at);
            if (len > lim.maxFrameBytes + 16) throw overLimit('a frame length', len, 'maxFrameBytes', lim.maxFrameBytes);
          }
          this.frameType = type;
          this.bodyLength = len;
          this.stage = S_FRAME_BODY;
          break;
        }
        case S_FRAME_BODY: {
          const len = this.bodyLength;
          if (avail < len) return;
          const at = r.offset;
          const body = r.bytes(len);
          if ((this.rawDeflate.crc32 ?? crc32)(body, 0) !== this.bodyCrc) {
            throw new RolldeltaError(ErrorCode.CHECKSUM, `the CRC32 of the frame at byte ${at} does not match its contents; the delta is damaged, fetch it again`);
          }
          if (this.frameType === FRAME_OPS) {
            this.stage = S_FRAME_HEAD;
            this.opsFrame(body, at);
            if (this.frameByFrame) {
              this.paused = true;
              return;
            }
          } else {
            this.trailer(body, at);
            this.stage = S_DONE;
          }
          break;
        }
        default: {
          if (avail > 0) throw corrupt(`${avail} bytes follow the trailer`, r.offset);
          return;
        }
      }
    }
  }

  private opsFrame(body: Uint8Array, at: number): void {
    const lim = this.limits;
    const codec = body[0]!;
    if (codec === CODEC_LITERAL) {
      this.literalFrame(body.subarray(1));
      return;
    }
    const c = new Cursor(body, 1, body.length);
    // Stored frames are as long as their raw; packed ones say how long it is.
    const rawLength = codec === CODEC_STORED ? body.length - 1 : c.varint();
    if (rawLength > lim.maxFrameBytes) throw overLimit('a frame\'s raw length', rawLength, 'maxFrameBytes', lim.maxFrameBytes);
    const payload = body.subarray(c.pos);
    let raw: Uint8Array;
    // The section sizes of a sectioned frame, checked against what the ops need.
    let sec: Sections | undefined;
    if (codec === CODEC_STORED) {
      raw = payload;
    } else if (codec === CODEC_DEFLATE) {
      if (payload.length >= rawLength) throw corrupt(`a deflated frame of ${payload.length} bytes is not smaller than its raw ${rawLength}`, at);
      raw = this.inflate(payload, rawLength, at);
    } else if (codec === CODEC_SECTIONS || codec === CODEC_SECTIONS_CM) {
      if (codec === CODEC_SECTIONS_CM) this.beforeJavaScriptWork?.('context-mixing', rawLength);
      sec = unpackSections((part, r) => this.inflate(part, r, at), payload, rawLength, (n) => this.scratchOf(n), at, codec === CODEC_SECTIONS_CM, this.total, this.opsOnly);
      raw = sec.raw;
    } else {
      throw new RolldeltaError(ErrorCode.UNSUPPORTED, `frame at byte ${at} uses codec ${codec}, which this version does not know; upgrade rolldelta`);
    }
    // Pass 1 checks the whole frame, so a bad frame emits nothing: first the tags, then the offsets.
    const tags = new Cursor(raw, 0, rawLength);
    const count = tags.varint();
    if (count === 0 || count > rawLength) throw corrupt(`a frame claims ${count} ops in ${rawLength} bytes`, at);
    let total = this.total;
    let literalBytes = 0;
    let diffBytes = 0;
    for (let i = 0; i < count; i++) {
      const v = tags.varint();
      const kind = v % 4;
      const length = Math.floor(v / 4);
      if (length === 0) throw corrupt('an op of length 0', at);
      if (kind === OP_ADD) {
        if (this.sink.add === undefined) {
          throw new RolldeltaError(ErrorCode.UNSUPPORTED, 'this delta has ADD ops (approximate copies) but its consumer cannot apply them; patch it with rolldelta\'s patcher or make the delta with approximate: false');
        }
        diffBytes += length;
      } else if (kind === 0) {
        if (length > lim.maxLiteralBytes) throw overLimit('a literal', length, 'maxLiteralBytes', lim.maxLiteralBytes);
        literalBytes += length;
      } else if (kind !== OP_COPY) {
        throw corrupt(`an op of unknown kind ${kind}`, at);
      }
      total += length;
      if (total > lim.maxTargetLength) throw overLimit('the target length', total, 'maxTargetLength', lim.maxTargetLength);
    }
    const tagsEnd = tags.pos;
    const offs = new Cursor(raw, tagsEnd, rawLength);
    tags.pos = 0;
    tags.varint();
    let expected = 0;
    for (let i = 0; i < count; i++) {
      const v = tags.varint();
      const kind = v % 4;
      if (kind === 0) continue;
      const length = Math.floor(v / 4);
      const offset = expected + unzigzag(offs.varint());
      if (offset < 0 || offset + length > MAX_NATIVE_VALUE) throw corrupt(`a ${kind === OP_ADD ? 'add' : 'copy'} at offset ${offset} of ${length} bytes`, at);
      expected = offset + length;
    }
    const offsEnd = offs.pos;
    if (sec !== undefined && (tagsEnd !== sec.tagsRaw || offsEnd !== sec.tagsRaw + sec.offsRaw || literalBytes !== sec.litRaw)) {
      throw corrupt(`the sections of a frame (${sec.tagsRaw}, ${sec.offsRaw}, ${sec.litRaw} bytes) do not match its ops (${tagsEnd}, ${offsEnd - tagsEnd}, ${literalBytes})`, at);
    }
    if (offsEnd + literalBytes + diffBytes !== rawLength) {
      throw corrupt(`the ops of a frame need ${literalBytes} literal and ${diffBytes} diff bytes but ${rawLength - offsEnd} follow them`, at);
    }
    if (diffBytes > 0) this.beforeJavaScriptWork?.('add', diffBytes);
    // Pass 2 emits.
    const sink = this.sink;
    let lit = offsEnd;
    let dif = offsEnd + literalBytes;
    tags.pos = 0;
    tags.varint();
    offs.pos = tagsEnd;
    expected = 0;
    for (let i = 0; i < count; i++) {
      const v = tags.varint();
      const kind = v % 4;
      const length = Math.floor(v / 4);
      if (kind === 0) {
        sink.literal(raw.subarray(lit, lit + length));
        lit += length;
        continue;
      }
      const offset = expected + unzigzag(offs.varint());
      expected = offset + length;
      if (kind === OP_COPY) {
        sink.copy(offset, length);
      } else {
        sink.add!(offset, length, raw.subarray(dif, dif + length));
        dif += length;
      }
    }
    this.total = total;
    this.frames++;
  }

  /** A frame that is one literal op (codec 4): its payload, at least one byte, all of it. */
  private literalFrame(data: Uint8Array): void {
    const lim = this.limits;
    if (data.length > lim.maxFrameBytes) throw overLimit('a frame\'s raw length', data.length, 'maxFrameBytes', lim.maxFrameBytes);
    if (data.length > lim.maxLiteralBytes) throw overLimit('a literal', data.length, 'maxLiteralBytes', lim.maxLiteralBytes);
    const total = this.total + data.length;
    if (total > lim.maxTargetLength) throw overLimit('the target length', total, 'maxTargetLength', lim.maxTargetLength);
    this.sink.literal(data);
    this.total = total;
    this.frames++;
  }

  private trailer(body: Uint8Array, at: number): void {
    const c = new Cursor(body, 0, body.length);
    const targetLength = c.varint();
    const targetSha256 = copyBytes(c.bytes(32));
    const frameCount = c.varint();
    if (c.pos !== body.length) throw corrupt(`${body.length - c.pos} stray bytes in the trailer`, at);
    if (frameCount !== this.frames) throw corrupt(`the trailer counts ${frameCount} frames but ${this.frames} were read`, at);
    if (targetLength !== this.total) throw corrupt(`the trailer says the target has ${targetLength} bytes but the ops write ${this.total}`, at);
    const h = this.header!;
    if (h.targetLength !== undefined && h.targetLength !== targetLength) {
      throw corrupt(`the header says the target has ${h.targetLength} bytes, the trailer ${targetLength}`, at);
    }
    if (h.targetSha256 !== undefined && !equalBytes(h.targetSha256, targetSha256)) {
      throw corrupt('the header and the trailer give different target SHA-256 digests', at);
    }
    this.onend?.({ targetLength, targetSha256 });
  }
}

/**
 * Feeds `chunk` to a decoder made with `frameByFrame`, then empty chunks (with the same `final`)
 * for as long as it pauses, yielding after each push: the caller drains one frame's ops at a time.
 * @example
 * for (const _ of pushFrameByFrame(decoder, chunk)) drain(queue);
 */
export function* pushFrameByFrame(decoder: { push(chunk: Uint8Array, final?: boolean): void; readonly paused: boolean }, chunk: Uint8Array, final = false): Generator<void> {
  decoder.push(chunk, final);
  yield;
  while (decoder.paused) {
    decoder.push(NO_BYTES, final);
    yield;
  }
}

const NO_BYTES = new Uint8Array(0);

/** Payloads that inflate more than this many times are inflated into a reused buffer. */
const HIGH_RATIO = 32;

/**
 * Runs `inflate`, which yields at most one byte more than promised, so memory stays bounded and a
 * stream that yields more (or less) than `rawLength` is caught.
 */
function inflateBounded(inflate: () => Uint8Array, rawLength: number, at: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = inflate();
  } catch (e) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `the deflate data of the frame at byte ${at} is invalid (${(e as Error).message}); the delta is damaged`, { cause: e });
  }
  if (out.length !== rawLength) throw corrupt(`a frame inflates to ${out.length > rawLength ? 'more than' : out.length} bytes, not the ${rawLength} it declares`, at);
  return out;
}
