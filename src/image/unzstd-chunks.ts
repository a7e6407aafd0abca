import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { WorkerPool } from '../stream/worker-pool.js';
import { ZstdFrameWalker, type ZstdBlock } from './_zstd-frames.js';

/**
 * Most bytes fzstd may move per byte of output, beyond a first 1 GiB. fzstd shifts its whole window
 * for every block (and allocates it for every frame), so a stream of tiny blocks in a large window
 * costs time out of all proportion: one-byte RLE blocks in a 128 MiB window took 23 s per 8 KB of
 * input. The slowest legitimate streams move about 2048 bytes per byte out (`zstd --ultra -22` on a
 * large layer: a 128 MiB window, blocks of 64 KiB on average after zstd's block splitting); 8192
 * leaves room and holds any stream to about 1 MB/s of output at the worst.
 */
const MAX_WINDOW_WORK_PER_BYTE = 8192;
const WINDOW_WORK_GRACE = 1 << 30;

/**
 * Longest a block may take to decode by default. A legitimate block takes milliseconds: ~15 ms
 * here with a 128 MiB window, which fzstd shifts per block, and 220 ms at the worst measured (a
 * `--ultra -22 --long=27` layer on a loaded machine, with or without V8's optimizing compiler); a
 * damaged one can keep fzstd looping for minutes (see unzstdChunks).
 */
const BLOCK_DEADLINE_MS = 10_000;

/** Numbers the streams decoded (see ZstdBlockTask). */
let streams = 0;

export interface UnzstdOptions {
  /** Longest one block may take to decode before the stream is judged damaged (default 10 s). */
  blockDeadlineMs?: number;
}

/**
 * Decodes a zstd stream (frames and skippable frames) as it arrives, with fzstd (pure JavaScript:
 * Node 20's zlib has no zstd) on a worker thread. A 64 MiB layer (a tar of /usr, `zstd -3`: 2 MiB
 * window) takes 0.26 s, against 0.05 s for `zstd -d` and 0.22 s for gunzipChunks on its gzip twin;
 * with an 8 MiB window 0.41 s. fzstd moves its whole window for each 128 KiB block, so time grows
 * with the window: 7.5 s with `--long=27` (128 MiB). Without V8's optimizing compiler (the CLI's
 * device commands) 2.8 s.
 * Every frame header and block is checked by ZstdFrameWalker before fzstd sees it (a window above
 * 128 MiB or a dictionary is ERR_UNSUPPORTED), and fzstd gets one block per push, so memory stays
 * bounded whatever the ratio: a push yields one block of at most 128 KiB (a 4-byte RLE block's
 * worth; a frame's first few when fzstd holds them until it has the 18 bytes it parses a header
 * from), handed on before the next block is decoded; a stream that would make fzstd move more than
 * 8192 bytes per byte of output (see MAX_WINDOW_WORK_PER_BYTE) is ERR_UNSUPPORTED. fzstd does not
 * check that a compressed block's sequences stay within its bitstream and its 128 KiB of output:
 * two bits flipped in a 96-byte stream kept it looping for more than 400 s (found by the fuzz
 * suite). So it runs on a worker thread, stopped when a block takes longer than
 * `blockDeadlineMs`: ERR_CORRUPT. The next input chunk is asked for only once the last is used up
 * (blocks are copied out of it, so a source may reuse its buffers). fzstd skips the frames' XXH64
 * checksums without checking them; each frame's content size, when its header gives one, is
 * checked here, and the layer's bytes are checked against its DiffID by every reader (LayerCheck,
 * checkLayerDigest, the archive writer). A damaged or cut stream is ERR_CORRUPT / ERR_TRUNCATED
 * naming `what`; a failure of `source` itself comes through as it is.
 * @example
 * for await (const tarChunk of unzstdChunks(readChunks(file), 'layer 2')) hash.update(tarChunk);
 */
export async function* unzstdChunks(source: AsyncIterable<Uint8Array>, what: string, opts: UnzstdOptions = {}): AsyncGenerator<Uint8Array> {
  const walker = new ZstdFrameWalker(what);
  const it = source[Symbol.asyncIterator]();
  const blocks = new BlockDecoder(what, opts.blockDeadlineMs ?? BLOCK_DEADLINE_MS);
  let frameBytes = 0;
  let produced = 0;
  let windowWork = 0;
  let sourceDone = false; // ended or failed: nothing more to ask of it, nor to close
  try {
    for (;;) {
      const block = walker.next();
      if (block === undefined) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next(); // a source's failure comes through as it is
        } catch (e) {
          sourceDone = true;
          throw e;
        }
        if (r.done) {
          sourceDone = true;
          walker.finish();
          return;
        }
        walker.feed(r.value);
        continue;
      }
      const { contentSize, windowSize } = block.frame;
      windowWork += block.first ? 2 * windowSize : windowSize; // the window allocated, then shifted
      if (windowWork > WINDOW_WORK_GRACE + MAX_WINDOW_WORK_PER_BYTE * produced) {
        throw new RolldeltaError(
          ErrorCode.UNSUPPORTED,
          `${what} is a zstd stream of blocks too small for its ${windowSize}-byte window (${produced} bytes out so far) for rolldelta's zstd decoder to read in reasonable time; ` +
            're-compress the layer or save the image with `skopeo copy --dest-compress-format gzip`',
        );
      }
      if (block.first) frameBytes = 0;
      const out = await blocks.decode(block);
      for (const c of out) frameBytes += c.length;
      if (contentSize >= 0 && (frameBytes > contentSize || (block.last && frameBytes !== contentSize))) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `${what} is not a valid zstd stream: a frame says it holds ${contentSize} bytes but decodes to ${block.last ? '' : 'more than '}${frameBytes}; the archive is damaged`);
      }
      for (const c of out) {
        produced += c.length;
        yield c;
      }
    }
  } finally {
    await blocks.close();
    if (!sourceDone) await it.return?.();
  }
}

/**
 * A thread whose last stream ended cleanly, kept a moment for the next: starting one costs ~50 ms,
 * paid once per layer otherwise (and per stream by callers decoding many small ones).
 */
let spare: WorkerPool | undefined;
let spareTimer: NodeJS.Timeout | undefined;
/** How long a spare thread waits for another stream before it is stopped. */
const SPARE_MS = 2000;
/**
 * Largest window of a stream whose thread is kept as the spare: the thread keeps the last frame's
 * window until a collection there, which an idle thread does not run (a 128 MiB window kept the
 * process 137 MiB larger for those 2 s; 8 MiB, `zstd -19`'s, 17 MiB). A new thread costs 50 ms.
 */
const SPARE_MAX_WINDOW = 8 << 20;

/** fzstd on a worker thread used by this stream alone, from its first block, one block at a time, each under a deadline. */
class BlockDecoder {
  private pool: WorkerPool | undefined;
  private readonly stream = streams++;
  /** A frame is under way in the thread (its decoder and window live there), or the thread was stopped. */
  private unfinished = false;
  /** The largest window of the stream's frames so far. */
  private window = 0;

  constructor(
    private readonly what: string,
    private readonly deadlineMs: number,
  ) {}

  async decode(block: ZstdBlock): Promise<Uint8Array[]> {
    // `workers: 1`, the hint for other work, does not help here.
    const pool = (this.pool ??= takeSpare() ?? new WorkerPool(1, { withoutThreads: 're-save the image with `skopeo copy --dest-compress-format gzip` (zstd layers are decoded on a worker thread whatever `workers` says)' }));
    let late = false;
    let verdict: NodeJS.Immediate | undefined;
    // The timer runs on this thread: after this thread was busy (another stream's work, a
    // debugger), it fires before the reply already waiting is read. The verdict waits for that.
    const timer = setTimeout(() => {
      verdict = setImmediate(() => {
        late = true;
        void pool.close(); // stops the thread mid-loop; the task rejects
      });
    }, this.deadlineMs);
    this.unfinished = true;
    this.window = Math.max(this.window, block.frame.windowSize);
    try {
      const out = await pool.run<Uint8Array[]>({ kind: 'zstd-block', stream: this.stream, bytes: block.bytes, first: block.first, last: block.last });
      this.unfinished = !block.last;
      return out;
    } catch (e) {
      if (late) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `${this.what} is not a valid zstd stream: a block of ${block.bytes.length} bytes did not decode in ${this.deadlineMs} ms; the archive is damaged`);
      }
      if (isRolldeltaError(e) && (e.code === ErrorCode.TRUNCATED || e.code === ErrorCode.CORRUPT)) {
        this.unfinished = false; // the thread dropped the frame's decoder
        throw new RolldeltaError(e.code, `${this.what} is not a valid zstd stream (${e.message}); the archive is damaged or cut short`, { cause: e });
      }
      throw e;
    } finally {
      clearTimeout(timer);
      clearImmediate(verdict);
    }
  }

  /** Gives the thread back as the spare if it holds nothing of this stream but a small window's garbage, else stops it. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    if (this.unfinished || pool.error || spare || this.window > SPARE_MAX_WINDOW) return pool.close();
    spare = pool;
    spareTimer = setTimeout(() => void takeSpare()?.close(), SPARE_MS);
    spareTimer.unref();
  }
}

function takeSpare(): WorkerPool | undefined {
  const pool = spare;
  spare = undefined;
  clearTimeout(spareTimer);
  return pool;
}
