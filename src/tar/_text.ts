// Tar stores names as raw bytes. Go and GNU tar write UTF-8; old archives may hold Latin-1, which we
// map byte-for-char so that two different byte names never decode to the same string.
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const ENC = new TextEncoder();

/** Decodes bytes as UTF-8, or byte-per-char (Latin-1) when they are not valid UTF-8. */
export function decodeText(b: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < b.length; i++) {
    if (b[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) {
    try {
      return UTF8.decode(b);
    } catch {
      // fall through to the byte-per-char mapping
    }
  }
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** The bytes of a NUL-terminated field: up to the first NUL or the field's end. */
export function cStringBytes(b: Uint8Array, off: number, len: number): Uint8Array {
  let end = off;
  const stop = off + len;
  while (end < stop && b[end] !== 0) end++;
  return b.subarray(off, end);
}

/** A NUL-terminated text field, decoded. */
export function cString(b: Uint8Array, off: number, len: number): string {
  return decodeText(cStringBytes(b, off, len));
}

/** UTF-8 bytes of `s`. */
export function encodeText(s: string): Uint8Array {
  return ENC.encode(s);
}
