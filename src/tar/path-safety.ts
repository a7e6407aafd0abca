import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Throws ERR_UNSAFE_PATH when an archive path could escape the directory it is extracted into:
 * an absolute path (`/x`, `C:\x`, `\\host`), a `..` component, or a NUL byte. Both `/` and `\`
 * separate components here, so a path stays safe on every platform it may be extracted on.
 * @example
 * checkSafePath('usr/bin/env'); // ok
 * checkSafePath('../etc/passwd'); // throws ERR_UNSAFE_PATH
 */
export function checkSafePath(name: string, what = 'path'): void {
  const reason = unsafeReason(name);
  if (reason !== undefined) {
    throw new RolldeltaError(
      ErrorCode.UNSAFE_PATH,
      `tar entry ${what} ${JSON.stringify(name.length > 200 ? name.slice(0, 200) + '...' : name)} ${reason}; ` +
        'refusing it (pass allowUnsafePaths to read such archives when you will not extract them)',
    );
  }
}

/**
 * True when `checkSafePath` accepts `name`.
 * @example
 * isSafePath('a/../../b'); // false
 */
export function isSafePath(name: string): boolean {
  return unsafeReason(name) === undefined;
}

function unsafeReason(name: string): string | undefined {
  if (name.includes('\0')) return 'contains a NUL byte';
  const c0 = name.charCodeAt(0);
  if (c0 === 0x2f || c0 === 0x5c) return 'is absolute';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter';
  for (const part of name.split(/[/\\]/)) if (part === '..') return 'has a ".." component';
  return undefined;
}
