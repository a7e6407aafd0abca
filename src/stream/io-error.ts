import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';

/** Wraps a Node I/O failure (ENOENT, EACCES, ENOSPC...) in a RolldeltaError that names the file. */
export function ioError(e: unknown, action: string, path: string): RolldeltaError {
  if (isRolldeltaError(e)) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : String((e as Error)?.message ?? e);
  return new RolldeltaError(ErrorCode.IO, `cannot ${action} ${path}: ${reason}`, { cause: e });
}
