import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { decodeText, encodeText } from './_text.js';

/**
 * Parses pax extended-header data (`"%d %s=%s\n"` records, the length counting the whole record),
 * as Go's archive/tar does. Later records win. Trailing NUL padding is tolerated.
 * Throws ERR_CORRUPT on a malformed record.
 * @example
 * parsePaxRecords(new TextEncoder().encode('16 path=a/b/cd\n')); // { path: 'a/b/cd' }
 */
export function parsePaxRecords(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  let p = 0;
  const n = data.length;
  while (p < n) {
    if (data[p] === 0) {
      for (let i = p; i < n; i++) if (data[i] !== 0) throw bad(p, 'bytes after NUL padding');
      break;
    }
    let len = 0;
    let q = p;
    while (q < n && data[q] >= 0x30 && data[q] <= 0x39 && q - p < 16) len = len * 10 + (data[q++] - 0x30);
    if (q === p || q >= n || data[q] !== 0x20) throw bad(p, 'expected a decimal length and a space');
    const end = p + len;
    if (len < 5 || end > n || end <= q + 1) throw bad(p, `record length ${len} does not fit the ${n - p} bytes left`);
    if (data[end - 1] !== 0x0a) throw bad(p, 'record does not end in a newline');
    let eq = q + 1;
    while (eq < end - 1 && data[eq] !== 0x3d) eq++;
    if (eq === end - 1 || eq === q + 1) throw bad(p, 'expected key=value');
    out[decodeText(data.subarray(q + 1, eq))] = decodeText(data.subarray(eq + 1, end - 1));
    p = end;
  }
  return out;
}

function bad(at: number, what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `malformed pax extended header at byte ${at}: ${what}; the archive is corrupt`);
}

/**
 * Encodes records as pax extended-header data, each `"%d %s=%s\n"` with its self-inclusive length.
 * @example
 * encodePaxRecords({ path: 'a/b/cd' }); // bytes of '16 path=a/b/cd\n'
 */
export function encodePaxRecords(records: Record<string, string>): Uint8Array {
  let text = '';
  for (const key of Object.keys(records)) {
    const body = ` ${key}=${records[key]}\n`;
    const bodyLen = encodeText(body).length;
    // the length field counts its own digits: grow until it is self-consistent
    let len = bodyLen + String(bodyLen).length;
    if (String(len).length + bodyLen !== len) len = bodyLen + String(len).length;
    text += len + body;
  }
  return encodeText(text);
}

/**
 * Applies pax records over `base`: an empty value deletes the key (POSIX: the default applies again).
 * @example
 * mergePax({ comment: 'a', uname: 'x' }, { comment: '' }); // { uname: 'x' }
 */
export function mergePax(base: Record<string, string>, records: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = Object.assign(Object.create(null), base);
  for (const k of Object.keys(records)) {
    if (records[k] === '') delete out[k];
    else out[k] = records[k];
  }
  return out;
}
