import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOSPC: 'no space left on the device',
  EISDIR: 'it is a directory, not a file',
};

/** Wraps a Node I/O failure (ENOENT, EACCES, ENOSPC...) in a RolldeltaError that names the file. */
export function ioError(e: unknown, action: string, path: string): RolldeltaError {
  if (isRolldeltaError(e)) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const reason = typeof code === 'string' && Object.hasOwn(REASONS, code) ? REASONS[code] : String((e as Error)?.message ?? e);
  return new RolldeltaError(ErrorCode.IO, `cannot ${action} ${path}: ${reason}`, { cause: e });
}

/** ERR_IO for a directory given where a file is wanted: opening one succeeds, only its reads fail. */
export function directoryError(action: string, path: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.IO, `cannot ${action} ${path}: ${REASONS.EISDIR}`);
}

/** True for a failure of the operating system (it has an errno code such as EISDIR), not a bug. */
export function isSystemError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).errno === 'number' && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/**
 * The operating system's failure behind `e`: `e` itself, or the cause of an ERR_IO that wraps one
 * (reusedFileChunks' "cannot read …"); undefined for anything else.
 * @example
 * const system = systemErrorIn(e); // then ioError(system, 'read the basis', path)
 */
export function systemErrorIn(e: unknown): unknown {
  if (isSystemError(e)) return e;
  return isRolldeltaError(e) && e.code === ErrorCode.IO && isSystemError(e.cause) ? e.cause : undefined;
}

/**
 * A decoder's RolldeltaError prefixed with the name of the file it was reading ("app.tar: the
 * archive ends inside ..."); ERR_IO already names its file and is returned as it is.
 * @example
 * await indexTarFile(file).catch((e) => { throw namingFile(e, 'app.tar') });
 */
export function namingFile(e: unknown, path: string): unknown {
  return isRolldeltaError(e) && e.code !== ErrorCode.IO ? new RolldeltaError(e.code, `${path}: ${e.message}`, { cause: e }) : e;
}
