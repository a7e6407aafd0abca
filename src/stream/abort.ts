import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** Throws ERR_ABORTED when the signal has fired; called between chunks of every streaming loop. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new RolldeltaError(ErrorCode.ABORTED, 'the operation was aborted', { cause: signal.reason });
  }
}
