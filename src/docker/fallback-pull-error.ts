import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';

/**
 * What `updateImage` throws when the delta update failed and the regular pull it fell back to
 * failed too. Its `code` is the pull's (ERR_REMOTE when the pull's error had none), its message
 * names both failures, and it carries both errors: `pullError` (also its `cause`) and
 * `deltaError`, why the delta was abandoned. Its `name` stays 'RolldeltaError', as
 * `isRolldeltaError` expects.
 * @example
 * try { await updateImage(opts) } catch (e) {
 *   if (e instanceof FallbackPullError) log.error(`pull: ${e.pullError.message}; delta: ${e.deltaError.message}`);
 * }
 */
export class FallbackPullError extends RolldeltaError {
  /** Why the delta update was abandoned (what `UpdateResult.reason` says when the pull works). */
  readonly deltaError: Error;
  /** Why the fallback pull failed; the same error is the `cause`. */
  readonly pullError: Error;

  constructor(to: string, deltaError: unknown, pullError: unknown) {
    const pull = asError(pullError);
    const delta = asError(deltaError);
    super(
      isRolldeltaError(pull) ? pull.code : ErrorCode.REMOTE,
      `the delta update failed: ${errorReason(delta)}; the fallback pull of ${to} failed too: ${errorReason(pull)}`,
      { cause: pull },
    );
    this.deltaError = delta;
    this.pullError = pull;
  }
}

/**
 * An error's message with its code, as `UpdateResult.reason` gives it.
 * @example
 * errorReason(new RolldeltaError('ERR_TIMEOUT', 'applying took too long')); // 'applying took too long (ERR_TIMEOUT)'
 */
export function errorReason(e: Error): string {
  return isRolldeltaError(e) ? `${e.message} (${e.code})` : e.message;
}

/**
 * `e` itself when it is an Error, else an Error saying what was thrown.
 * @example
 * asError('gone').message; // 'gone'
 */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
