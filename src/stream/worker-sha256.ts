import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { BackgroundHasher } from '../core/hash.js';
import type { WorkerPool } from './worker-pool.js';

/** Bytes per hand-over: few messages, and a slab hashes in under a millisecond. */
const SLAB = 1 << 20;

/** Numbers the streams a pool's worker hashes at once (see Sha256Task). */
let streams = 0;

/**
 * SHA-256 in a worker thread: `update` copies the bytes into SharedArrayBuffer slabs and hands
 * each full slab to `pool`'s worker, which reads it in place (shared, not copied again); the digest
 * comes back with the last slab. Copying costs a tenth of hashing (SHA-256 runs ~1.4 GB/s even with
 * SHA-NI), so the feeding thread gets back ~90% of the hash's time: a 256 MiB diff's matching
 * thread spent ~200 ms hashing its target. The pool must have one worker, so that a stream's slabs
 * are hashed in order. A slab is reused once hashed; `caughtUp` bounds how many are in flight.
 * @example
 * const pool = new WorkerPool(1);
 * const h = new WorkerSha256(pool);
 * h.update(bytes); const digest = await h.digest();
 */
export class WorkerSha256 implements BackgroundHasher {
  private readonly stream = streams++;
  private slab: Uint8Array;
  private fill = 0;
  private readonly free: Uint8Array[] = [];
  /** Bytes handed over and not hashed yet. */
  private pending = 0;
  /** Called when a slab is done (hashed or failed), for caughtUp. */
  private waiters: (() => void)[] = [];
  private failure: unknown;
  private finished = false;

  constructor(private readonly pool: WorkerPool) {
    if (pool.size !== 1) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a worker SHA-256 needs a pool of one worker (its slabs are hashed in order), got ${pool.size}`);
    }
    this.slab = newSlab();
  }

  update(data: Uint8Array): void {
    this.checkOpen();
    for (let i = 0; i < data.length; ) {
      const take = Math.min(data.length - i, SLAB - this.fill);
      this.slab.set(data.subarray(i, i + take), this.fill);
      this.fill += take;
      i += take;
      if (this.fill === SLAB) void this.send(false);
    }
  }

  async caughtUp(maxBytes: number): Promise<void> {
    while (this.pending > maxBytes && this.failure === undefined) await new Promise<void>((r) => this.waiters.push(r));
    if (this.failure !== undefined) throw this.failure;
  }

  async digest(): Promise<Uint8Array> {
    this.checkOpen();
    this.finished = true;
    const digest = await this.send(true);
    // Slabs before the last one failed: the digest misses their bytes.
    if (this.failure !== undefined) throw this.failure;
    return digest!;
  }

  /** Hands the current slab over; resolves with the reply (the digest when `final`). */
  private send(final: boolean): Promise<Uint8Array | null> {
    const slab = this.slab;
    const bytes = this.fill;
    this.slab = final ? slab : (this.free.pop() ?? newSlab());
    this.fill = 0;
    this.pending += bytes;
    const run = this.pool.run<Uint8Array | null>({ kind: 'sha256', stream: this.stream, bytes: slab.subarray(0, bytes), final });
    run.then(
      () => {
        this.pending -= bytes;
        if (!final) this.free.push(slab);
        this.wake();
      },
      (e: unknown) => {
        this.failure ??= e;
        this.wake();
      },
    );
    return run;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private checkOpen(): void {
    if (this.finished) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'this SHA-256 was already digested: nothing can be added to it');
  }
}

function newSlab(): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(SLAB));
}
