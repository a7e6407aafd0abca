import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Checks a compression level of the native format, 0-9 (0 stores literals, 1-8 deflate them, 9
 * codes them by context mixing), and returns it; anything else is ERR_INVALID_ARGUMENT.
 * @example
 * const level = checkLevel(opts.level ?? 6);
 */
export function checkLevel(level: unknown): number {
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > 9) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `level must be an integer from 0 to 9, got ${String(level)}`);
  }
  return level;
}
