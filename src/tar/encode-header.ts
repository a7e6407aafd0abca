import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { fitsOctal, formatOctal } from './_numeric.js';
import { encodeText } from './_text.js';
import { typeflagOf, type TarEntry, type TarEntryType } from './entry.js';
import { BLOCK, writeChecksum } from './header.js';
import { encodePaxRecords } from './pax.js';

/** The fields `encodeHeader` needs; the rest default to 0 / '' / mode 0644 (0755 for directories). */
export type TarHeaderFields = Partial<TarEntry> & { name: string; type: TarEntryType; size: number };

/**
 * Builds the header blocks for an entry made from scratch, laid out as Go's archive/tar writes them
 * (ustar magic, zero-padded octal and NUL). When a name, link target, number or non-ASCII text does
 * not fit ustar, a pax `x` header carrying it comes first, as Go does. Extra `pax` records are kept.
 * @example
 * const blocks = encodeHeader({ name: 'hello.txt', type: 'file', size: 5, mtime: 1700000000 });
 */
export function encodeHeader(fields: TarHeaderFields): Uint8Array {
  const { name, type, size } = fields;
  if (typeof name !== 'string' || name.length === 0) throw invalid(`name must be a non-empty string, got ${JSON.stringify(name)}`);
  const typeflag = fields.typeflag ?? typeflagOf(type);
  if (!Number.isInteger(typeflag) || typeflag < 0 || typeflag > 255) throw invalid(`type "${type}" has no typeflag; pass typeflag explicitly`);
  if (!Number.isSafeInteger(size) || size < 0) throw invalid(`size must be a non-negative safe integer, got ${size}`);
  const linkname = fields.linkname ?? '';
  const mode = fields.mode ?? (type === 'directory' ? 0o755 : 0o644);
  const uid = fields.uid ?? 0;
  const gid = fields.gid ?? 0;
  const mtime = fields.mtime ?? 0;
  const uname = fields.uname ?? '';
  const gname = fields.gname ?? '';
  const records: Record<string, string> = Object.assign(Object.create(null), fields.pax ?? {});

  const b = new Uint8Array(BLOCK);
  const nameBytes = encodeText(name);
  if (!putName(b, nameBytes, isAscii(nameBytes))) {
    records.path = name;
    putText(b, 0, 100, nameBytes.subarray(0, 100));
  }
  putTextOrPax(b, 157, 100, linkname, 'linkpath', records);
  putNumberOrPax(b, 100, 8, mode, 'mode', undefined, records);
  putNumberOrPax(b, 108, 8, uid, 'uid', 'uid', records);
  putNumberOrPax(b, 116, 8, gid, 'gid', 'gid', records);
  putNumberOrPax(b, 124, 12, size, 'size', 'size', records);
  putNumberOrPax(b, 136, 12, mtime, 'mtime', 'mtime', records);
  b[156] = typeflag;
  b.set([0x75, 0x73, 0x74, 0x61, 0x72, 0, 0x30, 0x30], 257); // "ustar\0" "00"
  putTextOrPax(b, 265, 32, uname, 'uname', records);
  putTextOrPax(b, 297, 32, gname, 'gname', records);
  putNumberOrPax(b, 329, 8, fields.devmajor ?? 0, 'devmajor', undefined, records);
  putNumberOrPax(b, 337, 8, fields.devminor ?? 0, 'devminor', undefined, records);
  writeChecksum(b);
  if (Object.keys(records).length === 0) return b;

  const data = encodePaxRecords(records);
  const x = new Uint8Array(BLOCK);
  putText(x, 0, 100, encodeText(paxHeaderName(name)).subarray(0, 100));
  formatOctal(x, 100, 8, 0o644);
  formatOctal(x, 108, 8, 0);
  formatOctal(x, 116, 8, 0);
  formatOctal(x, 124, 12, data.length);
  formatOctal(x, 136, 12, fitsOctal(Math.floor(mtime), 12) ? Math.floor(mtime) : 0);
  x[156] = 0x78; // 'x'
  x.set([0x75, 0x73, 0x74, 0x61, 0x72, 0, 0x30, 0x30], 257);
  formatOctal(x, 329, 8, 0);
  formatOctal(x, 337, 8, 0);
  writeChecksum(x);
  const padded = data.length + ((BLOCK - (data.length % BLOCK)) % BLOCK);
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  out.set(x, 0);
  out.set(data, BLOCK);
  out.set(b, BLOCK + padded);
  return out;
}

/** Go names pax headers `dir/PaxHeaders.0/base`, cut to fit. */
function paxHeaderName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '.' : trimmed.slice(0, slash);
  return `${dir}/PaxHeaders.0/${trimmed.slice(slash + 1)}`;
}

/** ustar name, split into prefix/name at a slash when longer than 100 bytes; false when it cannot fit. */
function putName(b: Uint8Array, name: Uint8Array, ascii: boolean): boolean {
  if (!ascii) return false; // Go sends non-ASCII names through pax, where UTF-8 is defined
  if (name.length <= 100) {
    b.set(name, 0);
    return true;
  }
  // the prefix ends at a slash; the name after it must be 1..100 bytes
  for (let i = Math.min(name.length - 2, 155); i > 0; i--) {
    if (name[i] === 0x2f && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      b.set(name.subarray(0, i), 345);
      b.set(name.subarray(i + 1), 0);
      return true;
    }
  }
  return false;
}

function putText(b: Uint8Array, off: number, len: number, bytes: Uint8Array): void {
  b.set(bytes.subarray(0, len), off);
}

function putTextOrPax(b: Uint8Array, off: number, len: number, text: string, key: string, records: Record<string, string>): void {
  const bytes = encodeText(text);
  if (bytes.length > len || !isAscii(bytes)) records[key] = text;
  putText(b, off, len, isAscii(bytes) ? bytes : new Uint8Array(0));
}

function putNumberOrPax(b: Uint8Array, off: number, len: number, v: number, what: string, key: string | undefined, records: Record<string, string>): void {
  if (fitsOctal(v, len)) {
    formatOctal(b, off, len, v);
    return;
  }
  if (key === undefined || !Number.isFinite(v) || (key !== 'mtime' && (!Number.isSafeInteger(v) || v < 0))) {
    throw invalid(`${what} ${v} cannot be stored in a tar header`);
  }
  records[key] = String(v);
  const whole = Math.floor(v);
  formatOctal(b, off, len, fitsOctal(whole, len) ? whole : 0);
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return false;
  return true;
}

function invalid(msg: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `encodeHeader: ${msg}`);
}
