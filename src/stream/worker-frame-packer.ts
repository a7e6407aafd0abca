import { contextMixedBytes, type FramePackerAsync, type FrameJob, type PackedFrame } from '../format/_frame-packing.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { WorkerPool } from './worker-pool.js';

/**
 * Context mixing a frame needs before worker threads are started for it: starting them (each its
 * own Node and its own compile of the model, on cores the diff is busy on) cost 70-95 ms for the
 * size corpus's pairs, whose deltas are one frame of 106-380 KB: ~60 KB of context mixing.
 */
const WORKER_FRAME_FROM = 64 << 10;
/** With `keepEventLoopFree`: the context mixing a frame may do on the calling thread (~6 ms). */
const EVENT_LOOP_FRAME_BELOW = 4 << 10;

export interface WorkerFramePackerOptions {
  signal?: AbortSignal;
  /**
   * Context-mix every frame with more than a few KiB to code on a worker thread, the delta's only
   * or last one too, so the calling thread's event loop never runs the coder for long (a 1 MiB
   * frame takes ~1.4 s): for a server that streams other responses meanwhile. Default false: a
   * one-shot diff packs those frames on the calling thread, sooner.
   */
  keepEventLoopFree?: boolean;
}

/**
 * Packs level 9 frames in up to `threads` worker threads (the frame's raw bytes are copied there,
 * a millisecond against seconds of coding): context mixing codes about 0.7 MB/s, so two threads
 * coding two frames at once halve a diff's time when literals dominate it. The threads start at
 * the first frame worth it: until then, a delta's only or last frame, and frames of little to
 * context-mix (random literals are stored), are packed on the calling thread (with
 * `keepEventLoopFree`, only frames of little to context-mix). Same bytes either way.
 * @example
 * const packer = new WorkerFramePacker(2);
 * try { new DiffDelta(basis, ondata, { level: 9, background: true, packFrameAsync: packer.pack }); … } finally { await packer.close(); }
 */
export class WorkerFramePacker {
  private pool: WorkerPool | undefined;
  private closed = false;

  constructor(
    private readonly threads: number,
    private readonly opts: WorkerFramePackerOptions = {},
  ) {}

  /** The encoder's `packFrameAsync`. */
  readonly pack: FramePackerAsync = (job: FrameJob, last: boolean) => {
    if (this.closed) return Promise.reject(new RolldeltaError(ErrorCode.ABORTED, 'the frame packer was closed before the frame was packed'));
    if (!this.pool) {
      const mixed = contextMixedBytes(job);
      if (this.opts.keepEventLoopFree ? mixed < EVENT_LOOP_FRAME_BELOW : last || mixed < WORKER_FRAME_FROM) return undefined;
      this.pool = new WorkerPool(this.threads, { signal: this.opts.signal });
    }
    return this.pool.run<PackedFrame>({ kind: 'pack-frame', job });
  };

  /** Whether worker threads were started. */
  get started(): boolean {
    return this.pool !== undefined;
  }

  /** Closes the worker threads, if any were started; frames handed on later are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
  }
}
