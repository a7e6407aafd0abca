import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { settledUnlessAborted } from '../stream/abort.js';

/** The longest delay setTimeout keeps (about 24.8 days); Node fires a longer one at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The error a device update's steps throw once its signal has aborted; `cause` is the signal's reason.
 * @example
 * if (signal?.aborted) throw updateAborted(signal.reason);
 */
export function updateAborted(cause?: unknown): RolldeltaError {
  return new RolldeltaError(ErrorCode.ABORTED, 'the update was aborted', cause === undefined ? undefined : { cause });
}

/**
 * Waits `ms` (at most MAX_TIMER_MS: a Retry-After of a month is not a spin), or rejects with
 * ERR_ABORTED when `signal` aborts, leaving no listener on it either way (a device agent passes
 * one long-lived signal to every update).
 * @example
 * await sleepUnlessAborted(opts.retryIntervalMs, opts.signal);
 */
export function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(updateAborted(signal.reason));
    const onAbort = () => {
      clearTimeout(t);
      reject(updateAborted(signal?.reason));
    };
    const t = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits for `p` to settle, or rejects with ERR_ABORTED as soon as `signal` aborts (`p` goes on).
 * @example
 * await unlessAborted(earlierUpdate, signal);
 */
export function unlessAborted(p: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  return (signal ? settledUnlessAborted(p, signal, updateAborted) : p).then(() => {});
}

/**
 * A signal that aborts after `ms` or when `outer` does, for one step of an update; `timedOut()`
 * says whether the time ran out, and `dispose()` clears the timer and the listener on `outer`.
 * @example
 * const step = abortAfter(5_000, signal);
 * try { await engine.ping({ signal: step.signal }) } finally { step.dispose() }
 */
export function abortAfter(ms: number, outer: AbortSignal | undefined): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, ms);
  const onAbort = () => ac.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}
