import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * At most `max` runs at once; the others wait their turn, first come first served. For device
 * downloads (DownloadLimiter) and a delta server's generations, each with its own error for a wait
 * that was aborted.
 * @example
 * const limit = new ConcurrencyLimit(2, { what: 'maxGenerations', aborted: (reason) => new Error('closing', { cause: reason }) });
 * await limit.run(() => generate(pair), { signal, onWait: () => log('queued') });
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly aborted: (reason: unknown) => Error;

  /** `what` names the limit in the error for a bad `max`; `aborted` makes the error for an aborted wait from the signal's reason. */
  constructor(
    readonly max: number,
    opts: { what: string; aborted: (reason: unknown) => Error },
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${opts.what} is a whole number >= 1, got ${max}`);
    this.aborted = opts.aborted;
  }

  /** Runs waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `fn` once fewer than `max` runs are under way. While it waits for a slot, `onWait` is told
   * once (before it joins the queue), and an abort of `signal` ends the wait at once with the
   * limit's `aborted` error.
   * @example
   * await limit.run(() => downloadDelta(url, path, opts), { signal });
   */
  async run<T>(fn: () => Promise<T>, opts: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
    if (this.active >= this.max) await this.slot(opts.signal, opts.onWait);
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private slot(signal: AbortSignal | undefined, onWait: (() => void) | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(this.aborted(signal.reason));
    onWait?.();
    return new Promise<void>((resolve, reject) => {
      const take = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        // Gives its place in the queue up: the slot goes to the next waiter.
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(this.aborted(signal?.reason));
      };
      this.waiting.push(take);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
