import type { OpSink } from '../core/ops.js';
import { HEADER_OVERHEAD } from '../format/_header-block.js';
import { ByteReader, readU32 } from '../format/_reader.js';
import type { DecodeLimits } from '../format/limits.js';
import { CODEC_SECTIONS_CM, FRAME_HEAD, FRAME_OPS } from '../format/native-codes.js';
import { NativeDeltaDecoder, type JavaScriptWork } from '../format/native-delta-decoder.js';
import { detectFormat } from '../format/detect.js';
import { NATIVE_DELTA_MAGIC } from '../format/native-magic.js';
import type { RawDeflate } from '../format/raw-deflate.js';
import { Cursor } from '../format/varint.js';
import { WorkerPool } from './worker-pool.js';

/** Raw bytes a context-mixed frame must unpack to before worker threads are started for it. */
const WORKER_FRAME_FROM = 64 << 10;
/** Bytes of plain units (header, frames not sent to a thread) read ahead of a frame being unpacked. */
const AHEAD_BYTES = 4 << 20;

export interface FramesAheadOptions {
  /** Worker threads unpacking frames (at least 1). */
  threads: number;
  limits?: Partial<DecodeLimits>;
  rawDeflate?: RawDeflate;
  signal?: AbortSignal;
  beforeJavaScriptWork?: (kind: JavaScriptWork, bytes: number) => void;
}

/** Adds up the target bytes the ops of a delta write: where the next frame's ops start. */
class TargetCounter implements OpSink {
  total = 0;
  copy(_offset: number, length: number): void {
    this.total += length;
  }
  literal(data: Uint8Array): void {
    this.total += data.length;
  }
  add(_offset: number, length: number): void {
    this.total += length;
  }
}

/**
 * Passes a delta's bytes on with each context-mixed frame (level 9) replaced by the same frame
 * stored, unpacked by worker threads ahead of the patch that reads the result: context mixing
 * decodes about 0.8 MB/s on one core and is nearly all of a level 9 patch's time, and frames
 * unpack independently. Frames go out in order, each one's ops the same. Everything is checked
 * here first, as the patch would (a decoder of the ops' shape reads along, which also gives each
 * frame's target offset, that the coder's contexts need); rdiff deltas and deltas without a
 * second frame worth a thread pass unchanged. Memory: the threads' models, and up to `threads`
 * unpacked frames plus AHEAD_BYTES read ahead.
 * @example
 * for await (const c of unpackFramesAhead(deltaChunks, { threads: 2 })) decoder.push(c);
 */
export async function* unpackFramesAhead(source: AsyncIterable<Uint8Array>, opts: FramesAheadOptions): AsyncGenerator<Uint8Array> {
  const ahead = new FrameSplitter(opts);
  try {
    for await (const chunk of source) {
      ahead.push(chunk);
      yield* drain(ahead);
    }
    yield* drain(ahead);
    ahead.end();
    while (ahead.pending()) yield await ahead.next();
  } finally {
    await ahead.close();
  }
}

/**
 * Takes the units the input holds and passes on those ready, waiting for the front one whenever
 * enough is out or read ahead: however many frames one chunk holds, at most `threads` are out.
 */
async function* drain(ahead: FrameSplitter): AsyncGenerator<Uint8Array> {
  for (;;) {
    const needsInput = ahead.take();
    yield* ahead.ready();
    if (needsInput) return;
    if (ahead.pending()) yield await ahead.next();
  }
}

/** A unit of the delta on its way out: its bytes, or the frame a worker thread is unpacking (bytes once done). */
interface Unit {
  bytes?: Uint8Array;
  unpacking?: Promise<Uint8Array>;
}

const S_MAGIC = 0;
const S_HEADER = 1;
const S_FRAME = 2;
const S_PASS = 3;

/** Cuts the delta into units (magic, header block, frames) and sends context-mixed frames out to unpack. */
class FrameSplitter {
  private readonly reader = new ByteReader();
  private readonly counter = new TargetCounter();
  private readonly shape: NativeDeltaDecoder;
  private readonly units: Unit[] = [];
  /** Frames sent to the worker threads and not yet passed on. */
  private inFlight = 0;
  private plainBytes = 0;
  private stage = S_MAGIC;
  /** Bytes of the next unit the shape decoder has been fed (its head), 0 or the head's length. */
  private fed = 0;
  /** A first frame worth a thread, kept until the next unit shows whether another such frame follows. */
  private held: { frame: Uint8Array; frameStart: number; at: number } | undefined;
  private pool: WorkerPool | undefined;

  constructor(private readonly opts: FramesAheadOptions) {
    const before = opts.beforeJavaScriptWork;
    // Reads the ops' shape only (no literal or diff section unpacked): every check, and the totals.
    this.shape = new NativeDeltaDecoder(this.counter, {
      limits: opts.limits,
      rawDeflate: opts.rawDeflate,
      opsOnly: true,
      // Its tag sections are context-mixed too: the compiler must be on for them, as for the threads.
      beforeJavaScriptWork: (kind, bytes) => {
        if (kind === 'context-mixing') before?.(kind, bytes);
      },
    });
  }

  /** Queues a chunk of input; `take` cuts it into units (the chunk may be reused once that returns). */
  push(chunk: Uint8Array): void {
    if (this.stage === S_PASS) this.plain(chunk.slice());
    else this.reader.push(chunk);
  }

  /**
   * Takes whole units from the input until it needs more (true) or enough is out on the threads or
   * read ahead (false: wait for the front unit, then take again).
   */
  take(): boolean {
    try {
      return this.takeUnits();
    } finally {
      this.reader.keep();
    }
  }

  /**
   * The input has ended: what is left goes out as it is, once the shape decoder has seen it all
   * (a cut delta fails here, as its patch would). Fewer bytes than a magic are left to the patch.
   */
  end(): void {
    const rest = this.reader.available > 0 ? this.reader.bytes(this.reader.available).slice() : new Uint8Array(0);
    if (this.stage !== S_PASS && this.stage !== S_MAGIC) this.shape.push(rest.subarray(this.fed), true);
    if (this.held) this.plain(this.held.frame);
    this.held = undefined;
    if (rest.length > 0) this.plain(rest);
  }

  /** Units ready at the front, in order (frames the threads are done with included). */
  *ready(): Generator<Uint8Array> {
    while (this.units.length > 0 && this.units[0]!.bytes) yield this.shift();
  }

  pending(): boolean {
    return this.units.length > 0;
  }

  /** The front unit, waited for. */
  async next(): Promise<Uint8Array> {
    const front = this.units[0]!;
    if (!front.bytes) front.bytes = await front.unpacking!;
    return this.shift();
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private shift(): Uint8Array {
    const u = this.units.shift()!;
    if (u.unpacking) this.inFlight--;
    else this.plainBytes -= u.bytes!.length;
    return u.bytes!;
  }

  private plain(bytes: Uint8Array): void {
    this.units.push({ bytes });
    this.plainBytes += bytes.length;
  }

  /** Whether enough is out on the threads or read ahead to wait for the front unit before taking more. */
  private full(): boolean {
    return this.units.length > 0 && (this.inFlight >= this.opts.threads || this.plainBytes >= AHEAD_BYTES);
  }

  /** See take(). */
  private takeUnits(): boolean {
    const r = this.reader;
    for (;;) {
      if (this.stage === S_PASS) return true;
      if (this.full()) return false;
      if (this.stage === S_MAGIC) {
        if (r.available < NATIVE_DELTA_MAGIC.length) return true;
        if (detectFormat(this.peekBytes(NATIVE_DELTA_MAGIC.length)) !== 'native-delta') {
          // An rdiff delta (or not a delta: the patch says so): passed on as it is.
          this.stage = S_PASS;
          this.plain(r.bytes(r.available).slice());
          return true;
        }
        if (!this.unit(NATIVE_DELTA_MAGIC.length + 1, 0)) return true;
        this.stage = S_HEADER;
      } else if (this.stage === S_HEADER) {
        if (r.available < 4) return true;
        if (!this.unit(readU32(this.headBytes(4), 0) + HEADER_OVERHEAD, 4)) return true;
        this.stage = S_FRAME;
      } else {
        if (r.available < FRAME_HEAD) return true;
        if (!this.unit(FRAME_HEAD + readU32(this.headBytes(FRAME_HEAD), 1), FRAME_HEAD)) return true;
      }
    }
  }

  /**
   * The first `n` bytes of the next unit, its head (a length, a frame head), fed to the shape
   * decoder once: it refuses a length over its limits before anything waits for the rest.
   */
  private headBytes(n: number): Uint8Array {
    const head = this.peekBytes(n);
    if (this.fed === 0) {
      this.shape.push(head);
      this.fed = n;
    }
    return head;
  }

  /** A copy of the next `n` bytes, left in the reader. */
  private peekBytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.reader.peek(i);
    return out;
  }

  /**
   * Takes a unit of `length` bytes once all are in (false until then), after the shape decoder has
   * checked the rest of it: it goes out as it is, or to a thread to unpack.
   */
  private unit(length: number, headLength: number): boolean {
    const r = this.reader;
    if (r.available < length) return false;
    const at = r.offset;
    const bytes = r.bytes(length).slice();
    const frameStart = this.counter.total;
    this.shape.push(bytes.subarray(headLength));
    this.fed = 0;
    const big = this.stage === S_FRAME && bytes[0] === FRAME_OPS && bytes[FRAME_HEAD] === CODEC_SECTIONS_CM && new Cursor(bytes, FRAME_HEAD + 1, bytes.length).varint() >= WORKER_FRAME_FROM;
    const held = this.held;
    this.held = undefined;
    // A frame worth a thread followed by another: the threads start. Else the patch unpacks the
    // one held itself, sooner than a thread would start.
    if (held && big) this.unpack(held.frame, held.frameStart, held.at);
    else if (held) this.plain(held.frame);
    if (!big) this.plain(bytes);
    else if (this.pool) this.unpack(bytes, frameStart, at);
    else this.held = { frame: bytes, frameStart, at };
    return true;
  }

  /** Sends a context-mixed frame to a worker thread to unpack. */
  private unpack(frame: Uint8Array, frameStart: number, at: number): void {
    this.pool ??= new WorkerPool(this.opts.threads, { signal: this.opts.signal });
    const unit: Unit = { unpacking: this.pool.run<Uint8Array>({ kind: 'unpack-frame', body: frame.subarray(FRAME_HEAD), frameStart, at }) };
    // Ready for ready() once done; a failure is thrown by next() in its turn, not unhandled meanwhile.
    unit.unpacking!.then(
      (bytes) => (unit.bytes = bytes),
      () => {},
    );
    this.units.push(unit);
    this.inFlight++;
  }
}
