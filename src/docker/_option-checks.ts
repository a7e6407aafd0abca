import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * `v` when it is a number of milliseconds from `min` to `max` (the timer limit for what becomes a
 * setTimeout, which fires at once past it); else ERR_INVALID_ARGUMENT naming the option. NaN is
 * never one: it would make a wait or a deadline never end.
 * @example
 * const keepFailureMs = checkMilliseconds('keepFailureMs', opts.keepFailureMs ?? 30_000);
 */
export function checkMilliseconds(name: string, v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'number' && v >= min && v <= max) return v;
  const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max}`;
  throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${name} must be a number of milliseconds ${range}, got ${shown(v)}`);
}

/**
 * `v` when it is a positive whole number of bytes (a size bound: a delta download's, a store's);
 * else ERR_INVALID_ARGUMENT naming the option.
 * @example
 * const maxBytes = opts.maxBytes === undefined ? undefined : checkByteLimit('maxBytes', opts.maxBytes);
 */
export function checkByteLimit(name: string, v: unknown): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive whole number of bytes, got ${shown(v)}`);
}

/** `v` when it is a whole number of at least 0 (seconds, cache entries); else ERR_INVALID_ARGUMENT naming the option. */
export function checkCount(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${name} must be a whole number, at least 0; got ${v}`);
  return v;
}

/** A value as a message shows it: a string quoted, so '3' is not mistaken for 3. */
export function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
