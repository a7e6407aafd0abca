/**
 * Native rolldelta delta format, version 1 (also in docs/FORMAT.md). Integers are big-endian;
 * "varint" is unsigned LEB128 (at most 8 bytes, canonical, value <= 2^53 - 1).
 *
 *   magic    72 64 6c 74 ("rdlt"), then version 01
 *   header   u32 length | msgpack map (DeltaHeader, one-letter keys) | u32 crc32(length field + map)
 *   frames   u8 type | u32 bodyLength | u32 crc32(body) | body      (repeated)
 *
 * Type 0x01, ops frame. body = u8 codec | (codecs 1-3: varint rawLength) | payload; codec 0: payload is
 * raw; 4: payload is the bytes of the frame's one literal op (raw would be 01 | tag | those bytes);
 * 1: payload is raw deflated (RFC 1951, fflate); 2 (sections, what the encoder writes): payload =
 * varint tagsRaw | tagsPacked | offsRaw | offsPacked | litRaw | litPacked | diffPacked, then the
 * four sections of raw (below) one after another, each deflated on its own, or stored when its
 * packed length equals its raw length. Codec 3 (level 9) is laid out as codec 2 with each packed
 * section coded by the context-mixing coder (cm-codec.ts) instead of deflate. raw is
 *   varint opCount | opCount x tag | offsets | literal bytes of every literal op | diff bytes of every add op
 *   tag = varint (length * 4 + kind), kind 0 literal, 1 copy, 2 add
 *   offsets = for each copy or add, in op order, varint zigzag(offset - expected), expected = end
 *        of the previous copy or add in this frame (0 at the frame's start), so a copy that continues
 *        the previous one costs one byte and each frame decodes on its own.
 * An add writes (basis[offset + i] + diff[i]) & 0xff.
 * Lengths are >= 1; offsets and lengths are < 2^50. raw is at most frameSize (+ a few bytes of
 * op headers); codecs 1-3 are only used when their payload is shorter than raw.
 *
 * Type 0xff, trailer (last frame). body = varint targetLength | targetSha256[32] | varint frameCount
 * (number of ops frames). Nothing may follow it. The sum of op lengths must equal targetLength.
 */
import { deflateFrameAsync, packFrame, storedFrame, type FrameJob, type FramePackerAsync } from './_frame-packing.js';
import { CM_LEVEL, CODEC_LITERAL, CODEC_STORED, FRAME_HEAD, FRAME_OPS, FRAME_TRAILER, MAX_NATIVE_VALUE, OP_ADD, OP_COPY, OP_LITERAL, TRAILER_MAX } from './native-codes.js';
import { crc32 } from '../core/crc32.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { OpSink } from '../core/ops.js';
import { encodeHeaderBlock } from './_header-block.js';
import { checkLevel } from './level.js';
import { sealFrame } from './_frame-head.js';
import { deltaHeaderToMap, type DeltaHeader } from './delta-header.js';
import { NATIVE_DELTA_MAGIC, NATIVE_VERSION } from './native-magic.js';
import { varintLength, writeVarint, zigzag } from './varint.js';
import { fflateRawDeflate, type RawDeflate } from './raw-deflate.js';

export {
  CM_LEVEL,
  CODEC_DEFLATE,
  CODEC_LITERAL,
  CODEC_SECTIONS,
  CODEC_SECTIONS_CM,
  CODEC_STORED,
  FRAME_HEAD,
  FRAME_OPS,
  FRAME_TRAILER,
  MAX_NATIVE_VALUE,
  OP_ADD,
  OP_COPY,
  OP_LITERAL,
} from './native-codes.js';

const DEFAULT_FRAME = 1 << 20;
const MAX_FRAME = (16 << 20) - 64;

/** Options of the native delta encoder. */
export interface NativeDeltaEncoderOptions {
  /** Deflate level 0-9 (default: the header's `level`, else 6). */
  level?: number;
  /** Raw bytes per frame (64 .. 16 MiB - 64, default 1 MiB): bounds the decoder's memory. */
  frameSize?: number;
  /** DEFLATE implementation (default fflate's; the Node edges pass node:zlib's). */
  rawDeflate?: RawDeflate;
  /**
   * Pack frames with `rawDeflate.deflateAsync` (below level 9), handing them on in order as they
   * are done: the caller must await {@link NativeDeltaEncoder.settled} before it takes the output.
   */
  background?: boolean;
  /**
   * With `background`, at level 9: packs a frame elsewhere (worker threads at the Node edges), to
   * the bytes `packFrame` gives, or returns undefined to have it packed here; frames still
   * leave in order.
   */
  packFrameAsync?: FramePackerAsync;
}

/** What the trailer promises about the target. */
export interface NativeTrailer {
  targetLength: number;
  targetSha256: Uint8Array;
}

/**
 * Writes ops as a native rolldelta v1 delta, frame by frame through `ondata` (each chunk is a
 * fresh array the receiver may keep). Adjacent copies are merged, literals and add diffs are copied in.
 * @example
 * const enc = new NativeDeltaEncoder({ mode: 'diff', codec: 'deflate' }, (c) => out.push(c));
 * enc.copy(0, 4096); enc.literal(bytes);
 * enc.finish({ targetLength: 4096 + bytes.length, targetSha256: sha256(target) });
 */
export class NativeDeltaEncoder implements OpSink {
  private readonly header: DeltaHeader;
  private readonly ondata: (chunk: Uint8Array) => void;
  private readonly level: number;
  private readonly frameSize: number;
  private readonly deflate: boolean;
  private readonly rawDeflate: RawDeflate;
  private readonly packFrameAsync: FramePackerAsync | undefined;
  private readonly background: boolean;
  private ops = new Uint8Array(1024);
  private opsLen = 0;
  /** Offset varints of the frame's copies and adds, a column apart from the op tags. */
  private offs = new Uint8Array(1024);
  private offsLen = 0;
  private lit = new Uint8Array(1024);
  private litLen = 0;
  private diff = new Uint8Array(1024);
  private diffLen = 0;
  private opCount = 0;
  private openLiteral = 0;
  private copyOffset = 0;
  private copyLength = 0;
  private expected = 0;
  private frames = 0;
  private total = 0;
  /** Target offset where the current frame's output starts, and its bytes so far. */
  private frameStart = 0;
  private frameOut = 0;
  private started = false;
  private done = false;
  /** Completion of the last deferred output, and of each one still pending (oldest first). */
  private tail: Promise<void> | undefined;
  private readonly pending: Promise<void>[] = [];
  private failure: unknown;

  constructor(header: DeltaHeader, ondata: (chunk: Uint8Array) => void, opts: NativeDeltaEncoderOptions = {}) {
    const level = checkLevel(opts.level ?? header.level ?? 6);
    const frameSize = opts.frameSize ?? DEFAULT_FRAME;
    if (!Number.isInteger(frameSize) || frameSize < 64 || frameSize > MAX_FRAME) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `frameSize must be an integer from 64 to ${MAX_FRAME}, got ${String(frameSize)}`);
    }
    if (header.codec !== 'deflate' && header.codec !== 'stored') {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `header.codec must be 'deflate' or 'stored', got ${String(header.codec)}`);
    }
    this.header = header;
    this.ondata = ondata;
    this.level = level;
    this.rawDeflate = opts.rawDeflate ?? fflateRawDeflate;
    this.background = opts.background === true;
    this.packFrameAsync = opts.packFrameAsync;
    this.frameSize = frameSize;
    this.deflate = header.codec === 'deflate';
  }

  copy(offset: number, length: number): void {
    this.checkOpen();
    if (length === 0) return;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length >= MAX_NATIVE_VALUE) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `copy(${offset}, ${length}): offset and length must be non-negative integers with offset + length below 2^50`);
    }
    this.total += length;
    if (this.copyLength > 0 && this.copyOffset + this.copyLength === offset) {
      this.copyLength += length;
      return;
    }
    this.flushCopy();
    this.closeLiteral();
    this.copyOffset = offset;
    this.copyLength = length;
  }

  literal(data: Uint8Array): void {
    this.checkOpen();
    const n = data.length;
    if (n === 0) return;
    this.flushCopy();
    this.total += n;
    const frameSize = this.frameSize;
    let i = 0;
    while (i < n) {
      const room = Math.max(1, frameSize - this.opsLen - this.offsLen - this.litLen - this.diffLen);
      const take = Math.min(n - i, room);
      this.growLit(take);
      this.lit.set(data.subarray(i, i + take), this.litLen);
      this.litLen += take;
      this.openLiteral += take;
      i += take;
      if (this.opsLen + this.offsLen + this.litLen + this.diffLen >= frameSize) this.cutFrame();
    }
  }

  add(offset: number, length: number, diff: Uint8Array): void {
    this.checkOpen();
    if (length === 0) return;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length >= MAX_NATIVE_VALUE) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `add(${offset}, ${length}): offset and length must be non-negative integers with offset + length below 2^50`);
    }
    if (!(diff instanceof Uint8Array) || diff.length !== length) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `add(${offset}, ${length}): diff must be a Uint8Array of exactly ${length} bytes`);
    }
    this.flushCopy();
    this.closeLiteral();
    this.total += length;
    // A long add is cut at frame boundaries like a literal: each frame decodes on its own.
    let i = 0;
    while (i < length) {
      const room = Math.max(1, this.frameSize - this.opsLen - this.offsLen - this.litLen - this.diffLen);
      const take = Math.min(length - i, room);
      this.growOps(16);
      this.opsLen = writeVarint(this.ops, this.opsLen, take * 4 + OP_ADD);
      this.growOffs(8);
      this.offsLen = writeVarint(this.offs, this.offsLen, zigzag(offset + i - this.expected));
      this.opCount++;
      this.frameOut += take;
      this.expected = offset + i + take;
      this.growDiff(take);
      this.diff.set(diff.subarray(i, i + take), this.diffLen);
      this.diffLen += take;
      i += take;
      if (this.opsLen + this.offsLen + this.litLen + this.diffLen >= this.frameSize) this.cutFrame();
    }
  }

  /**
   * Flushes the last frame and writes the trailer. `targetLength` must equal the bytes the ops
   * write (checked: the decoder would refuse the delta otherwise).
   */
  finish(trailer: NativeTrailer): void {
    this.checkOpen();
    const { targetLength, targetSha256 } = trailer;
    if (!(targetSha256 instanceof Uint8Array) || targetSha256.length !== 32) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'trailer.targetSha256 must be 32 bytes');
    }
    if (targetLength !== this.total) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `trailer.targetLength is ${targetLength} but the ops write ${this.total} bytes`);
    }
    this.flushCopy();
    this.cutFrame(true);
    this.start();
    const body = new Uint8Array(TRAILER_MAX);
    let p = writeVarint(body, 0, targetLength);
    body.set(targetSha256, p);
    p = writeVarint(body, p + 32, this.frames);
    this.emit(FRAME_TRAILER, body.subarray(0, p), 0, undefined);
    this.done = true;
  }

  private checkOpen(): void {
    if (this.done) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'the encoder is finished; create a new one for another delta');
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    const block = encodeHeaderBlock(deltaHeaderToMap(this.header));
    const out = new Uint8Array(5 + block.length);
    out.set(NATIVE_DELTA_MAGIC);
    out[4] = NATIVE_VERSION;
    out.set(block, 5);
    this.send(out);
  }

  private flushCopy(): void {
    const length = this.copyLength;
    if (length === 0) return;
    this.closeLiteral();
    this.growOps(16);
    this.opsLen = writeVarint(this.ops, this.opsLen, length * 4 + OP_COPY);
    this.growOffs(8);
    this.offsLen = writeVarint(this.offs, this.offsLen, zigzag(this.copyOffset - this.expected));
    this.opCount++;
    this.frameOut += length;
    this.expected = this.copyOffset + length;
    this.copyLength = 0;
    if (this.opsLen + this.offsLen + this.litLen + this.diffLen >= this.frameSize) this.cutFrame();
  }

  private closeLiteral(): void {
    if (this.openLiteral === 0) return;
    this.growOps(8);
    this.opsLen = writeVarint(this.ops, this.opsLen, this.openLiteral * 4 + OP_LITERAL);
    this.opCount++;
    this.frameOut += this.openLiteral;
    this.openLiteral = 0;
  }

  /** Ends the current frame (a pending copy stays pending: it goes into the next frame); `last` at finish. */
  private cutFrame(last = false): void {
    this.closeLiteral();
    if (this.opCount === 0) return;
    this.start();
    const countLen = varintLength(this.opCount);
    const tagsRaw = countLen + this.opsLen;
    const rawLength = tagsRaw + this.offsLen + this.litLen + this.diffLen;
    const raw = new Uint8Array(rawLength);
    writeVarint(raw, 0, this.opCount);
    raw.set(this.ops.subarray(0, this.opsLen), countLen);
    raw.set(this.offs.subarray(0, this.offsLen), tagsRaw);
    raw.set(this.lit.subarray(0, this.litLen), tagsRaw + this.offsLen);
    raw.set(this.diff.subarray(0, this.diffLen), tagsRaw + this.offsLen + this.litLen);
    const deflateAsync = this.background && this.deflate && this.level < CM_LEVEL ? this.rawDeflate.deflateAsync : undefined;
    const packAsync = this.background && this.deflate && this.level >= CM_LEVEL ? this.packFrameAsync : undefined;
    const job: FrameJob = { raw, tagsRaw, offsLen: this.offsLen, litLen: this.litLen, level: this.level, frameStart: this.frameStart };
    // Context mixing is slow (about 0.7 MB/s): such frames are coded elsewhere, several at once;
    // deflated ones in the thread pool while the producer goes on. Frames still leave in order.
    const later = packAsync ? packAsync(job, last) : deflateAsync ? deflateFrameAsync(job, deflateAsync) : undefined;
    if (later) {
      this.send(later.then((p) => this.frame(FRAME_OPS, p.payload, p.codec, rawLength)));
    } else {
      const p = this.deflate ? packFrame(job, this.rawDeflate) : storedFrame(job);
      this.emit(FRAME_OPS, p.payload, p.codec, rawLength);
    }
    this.frames++;
    this.opsLen = 0;
    this.offsLen = 0;
    this.litLen = 0;
    this.diffLen = 0;
    this.opCount = 0;
    this.expected = 0;
    this.frameStart += this.frameOut;
    this.frameOut = 0;
  }

  /**
   * Writes one frame; for ops frames `rawLength` is given and the codec byte leads the body, then
   * rawLength where the payload's own length does not tell it (packed codecs).
   */
  private emit(type: number, payload: Uint8Array, codec: number, rawLength: number | undefined): void {
    this.send(this.frame(type, payload, codec, rawLength));
  }

  /** A frame's bytes: head, CRC and body. */
  private frame(type: number, payload: Uint8Array, codec: number, rawLength: number | undefined): Uint8Array {
    const sized = rawLength !== undefined && codec !== CODEC_STORED && codec !== CODEC_LITERAL;
    const prefix = rawLength === undefined ? 0 : sized ? 1 + varintLength(rawLength) : 1;
    const bodyLength = prefix + payload.length;
    const frame = new Uint8Array(FRAME_HEAD + bodyLength);
    if (rawLength !== undefined) {
      frame[FRAME_HEAD] = codec;
      if (sized) writeVarint(frame, FRAME_HEAD + 1, rawLength);
    }
    frame.set(payload, FRAME_HEAD + prefix);
    sealFrame(frame, type, this.rawDeflate.crc32 ?? crc32);
    return frame;
  }

  /** Hands bytes on in order: at once, or after the frames still being packed. */
  private send(chunk: Uint8Array | Promise<Uint8Array>): void {
    if (this.tail === undefined && chunk instanceof Uint8Array) {
      this.ondata(chunk);
      return;
    }
    // Its failure is taken in order below; until then it must not count as unhandled.
    if (!(chunk instanceof Uint8Array)) chunk.catch(() => {});
    const done = (this.tail ?? Promise.resolve())
      .then(() => chunk)
      .then(
        (c) => {
          if (this.failure === undefined) this.ondata(c);
        },
        (e: unknown) => void (this.failure ??= e),
      );
    this.tail = done;
    this.pending.push(done);
    void done.then(() => {
      this.pending.shift();
      if (this.tail === done) this.tail = undefined;
    });
  }

  /**
   * With `background` (frames packed by `deflateAsync` or `packFrameAsync`): resolves once at most `maxPending` frames are
   * still being packed (0: everything handed on), and rethrows a packing failure. Producers await
   * it between pushes so that packing overlaps their work without piling up frames.
   */
  async settled(maxPending = 0): Promise<void> {
    while (this.pending.length > maxPending) await this.pending[0];
    if (this.failure !== undefined) throw this.failure;
  }

  private growOps(extra: number): void {
    if (this.opsLen + extra <= this.ops.length) return;
    const next = new Uint8Array(Math.max(this.ops.length * 2, this.opsLen + extra));
    next.set(this.ops.subarray(0, this.opsLen));
    this.ops = next;
  }

  private growOffs(extra: number): void {
    if (this.offsLen + extra <= this.offs.length) return;
    const next = new Uint8Array(Math.max(this.offs.length * 2, this.offsLen + extra));
    next.set(this.offs.subarray(0, this.offsLen));
    this.offs = next;
  }

  private growDiff(extra: number): void {
    if (this.diffLen + extra <= this.diff.length) return;
    const next = new Uint8Array(Math.max(this.diff.length * 2, this.diffLen + extra));
    next.set(this.diff.subarray(0, this.diffLen));
    this.diff = next;
  }

  private growLit(extra: number): void {
    if (this.litLen + extra <= this.lit.length) return;
    const next = new Uint8Array(Math.max(this.lit.length * 2, this.litLen + extra));
    next.set(this.lit.subarray(0, this.litLen));
    this.lit = next;
  }
}
