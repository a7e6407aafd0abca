import { ErrorCode, RolldeltaError } from '../core/errors.js';

const SPACE = 0x20;

/**
 * Parses a numeric header field as Go's archive/tar does: base-256 when the high bit of the first
 * byte is set (negative when the next bit is too), else octal, padded by spaces or NULs at either end
 * and ended by the first NUL. Throws ERR_CORRUPT on garbage or on values beyond 2^53.
 */
export function parseNumeric(b: Uint8Array, off: number, len: number, what: string): number {
  const first = b[off];
  if ((first & 0x80) !== 0) return parseBase256(b, off, len, what);
  let start = off;
  let end = off + len;
  while (start < end && (b[start] === 0 || b[start] === SPACE)) start++;
  while (end > start && (b[end - 1] === 0 || b[end - 1] === SPACE)) end--;
  let x = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0) break;
    const d = c - 0x30;
    if (d < 0 || d > 7) throw garbage(b, off, len, what);
    x = x * 8 + d;
  }
  return x; // at most 12 octal digits: 2^36, always exact
}

function parseBase256(b: Uint8Array, off: number, len: number, what: string): number {
  const inv = (b[off] & 0x40) !== 0 ? 0xff : 0; // negative numbers are stored as two's complement
  let x = 0;
  for (let i = 0; i < len; i++) {
    let c = b[off + i] ^ inv;
    if (i === 0) c &= 0x7f;
    x = x * 256 + c;
    if (x > Number.MAX_SAFE_INTEGER) {
      throw new RolldeltaError(
        ErrorCode.CORRUPT,
        `tar header field ${what}: base-256 value exceeds 2^53; this archive is corrupt or was not meant for this reader`,
      );
    }
  }
  return inv === 0 ? x : -x - 1;
}

function garbage(b: Uint8Array, off: number, len: number, what: string): RolldeltaError {
  let shown = '';
  for (let i = off; i < off + len; i++) shown += b[i] >= 0x20 && b[i] < 0x7f ? String.fromCharCode(b[i]) : `\\x${b[i].toString(16).padStart(2, '0')}`;
  return new RolldeltaError(ErrorCode.CORRUPT, `tar header field ${what}: expected octal digits, found "${shown}"; the archive is corrupt`);
}

/** Writes `value` as Go does: `len - 1` zero-padded octal digits and a NUL. Check with `fitsOctal` first. */
export function formatOctal(out: Uint8Array, off: number, len: number, value: number): void {
  const digits = len - 1;
  let v = value;
  for (let i = digits - 1; i >= 0; i--) {
    out[off + i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  out[off + digits] = 0;
}

/** True when `value` fits `len - 1` octal digits (what ustar readers everywhere accept). */
export function fitsOctal(value: number, len: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (len - 1);
}
