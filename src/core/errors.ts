/**
 * The one error class rolldelta throws, with a stable machine-readable `code`.
 * Codes never change meaning between versions; messages may improve.
 */
export const ErrorCode = {
  /** The input does not start with any magic this decoder knows. */
  BAD_MAGIC: 'ERR_BAD_MAGIC',
  /** The input ended before a structure it promised was complete. */
  TRUNCATED: 'ERR_TRUNCATED',
  /** A stored checksum or digest does not match the data. */
  CHECKSUM: 'ERR_CHECKSUM',
  /** The structure is well-framed but its contents are impossible (bad opcode, length, offset). */
  CORRUPT: 'ERR_CORRUPT',
  /** The basis offered to patch is not the one the delta was made against. */
  BASIS_MISMATCH: 'ERR_BASIS_MISMATCH',
  /** A version, algorithm or compression this build does not implement. */
  UNSUPPORTED: 'ERR_UNSUPPORTED',
  /** A resource limit (size, count, memory) from the options would be exceeded. */
  LIMIT: 'ERR_LIMIT',
  /** A caller passed an invalid argument or option. */
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  /** What was asked for (an image, its archive) is not where it was looked for. */
  NOT_FOUND: 'ERR_NOT_FOUND',
  /** The operation was cancelled through its AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /** An input/output operation failed (file, socket, child process). */
  IO: 'ERR_IO',
  /** A path inside an archive would escape its root (`..`, absolute), or a folder to work in is not safely ours (a symlink, another user's). */
  UNSAFE_PATH: 'ERR_UNSAFE_PATH',
  /** A remote peer (engine, registry, delta server) answered with an error. */
  REMOTE: 'ERR_REMOTE',
  /** An operation took longer than its configured timeout. */
  TIMEOUT: 'ERR_TIMEOUT',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Every failure rolldelta reports is a `RolldeltaError`; switch on `code`, show `message` to people.
 * @example
 * try { patch(basis, delta) } catch (e) {
 *   if (e instanceof RolldeltaError && e.code === 'ERR_BASIS_MISMATCH') refetchBasis();
 * }
 */
export class RolldeltaError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RolldeltaError';
    this.code = code;
  }
}

/** True when `e` is a RolldeltaError (also across duplicate copies of the package). */
export function isRolldeltaError(e: unknown): e is RolldeltaError {
  return e instanceof RolldeltaError || (e instanceof Error && e.name === 'RolldeltaError' && typeof (e as { code?: unknown }).code === 'string');
}
