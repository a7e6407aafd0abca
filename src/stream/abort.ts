import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** The error a streaming operation throws once its signal has aborted; `cause` is the signal's reason. */
export function operationAborted(cause: unknown): RolldeltaError {
  return new RolldeltaError(ErrorCode.ABORTED, 'the operation was aborted', { cause });
}

/** Throws ERR_ABORTED when the signal has fired; called between chunks of every streaming loop. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw operationAborted(signal.reason);
}

/**
 * `p`'s outcome, or a rejection with `aborted(signal.reason)` as soon as `signal` aborts (`p` goes
 * on, unobserved). The listener lives only while `p` is pending, so a loop may call this for every
 * chunk it reads. Racing each read against one promise that lives as long as the signal
 * (`Promise.race([it.next(), aborted])`) left a reaction on that promise per read, each holding
 * the read's result: every chunk stayed reachable to the end (a 256 MB basis piped into a
 * signature with a signal peaked at 337 MB RSS; 90 MB without one).
 * @example
 * const next = await settledUnlessAborted(it.next(), signal, operationAborted);
 */
export function settledUnlessAborted<T>(p: Promise<T>, signal: AbortSignal, aborted: (reason: unknown) => Error): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {}); // no one waits for it now
    return Promise.reject(aborted(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
