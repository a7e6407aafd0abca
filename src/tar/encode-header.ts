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

  // First decide, as Go's Header.allowedFormats does, which values need pax records; a long name
  // that splits into ustar prefix/name only stays in ustar when nothing else needs pax.
  const nameBytes = encodeText(name);
  const split = splitUstar(nameBytes);
  if (nameBytes.length > 100 || !isAscii(nameBytes)) records.path = name;
  needText(linkname, 100, 'linkpath', records);
  needText(uname, 32, 'uname', records);
  needText(gname, 32, 'gname', records);
  needNumber(mode, 8, 'mode', undefined, records);
  needNumber(uid, 8, 'uid', 'uid', records);
  needNumber(gid, 8, 'gid', 'gid', records);
  needNumber(size, 12, 'size', 'size', records);
  needNumber(mtime, 12, 'mtime', 'mtime', records);
  needNumber(fields.devmajor ?? 0, 8, 'devmajor', undefined, records);
  needNumber(fields.devminor ?? 0, 8, 'devminor', undefined, records);
  const keys = Object.keys(records);
  if (keys.length === 1 && keys[0] === 'path' && records.path === name && split !== undefined && fields.pax?.path === undefined) delete records.path;

  const b = new Uint8Array(BLOCK);
  if (records.path === undefined && split !== undefined) {
    b.set(split.prefix, 345);
    b.set(split.name, 0);
  } else {
    putText(b, 0, 100, name);
  }
  putText(b, 157, 100, linkname);
  putOctal(b, 100, 8, mode);
  putOctal(b, 108, 8, uid);
  putOctal(b, 116, 8, gid);
  putOctal(b, 124, 12, size);
  putOctal(b, 136, 12, Math.floor(mtime));
  b[156] = typeflag;
  b.set(USTAR_MAGIC, 257);
  putText(b, 265, 32, uname);
  putText(b, 297, 32, gname);
  putOctal(b, 329, 8, fields.devmajor ?? 0);
  putOctal(b, 337, 8, fields.devminor ?? 0);
  writeChecksum(b);
  if (Object.keys(records).length === 0) return b;

  const sorted: Record<string, string> = Object.create(null);
  for (const k of Object.keys(records).sort()) sorted[k] = records[k]; // Go writes records sorted by key
  const data = encodePaxRecords(sorted);
  // the x header as Go's writeRawFile makes it: ASCII name, zero mode/ids/mtime, only the size set
  const x = new Uint8Array(BLOCK);
  putText(x, 0, 100, paxHeaderName(name));
  formatOctal(x, 100, 8, 0);
  formatOctal(x, 108, 8, 0);
  formatOctal(x, 116, 8, 0);
  formatOctal(x, 124, 12, data.length);
  formatOctal(x, 136, 12, 0);
  x[156] = 0x78; // 'x'
  x.set(USTAR_MAGIC, 257);
  writeChecksum(x);
  const padded = data.length + ((BLOCK - (data.length % BLOCK)) % BLOCK);
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  out.set(x, 0);
  out.set(data, BLOCK);
  out.set(b, BLOCK + padded);
  return out;
}

const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0, 0x30, 0x30]; // "ustar\0" "00"

/** Go names pax headers `path.Join(dir, "PaxHeaders.0", file)`, ASCII only, cut to 100, no trailing slash. */
function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/');
  const parts: string[] = [];
  for (const p of `${name.slice(0, slash + 1)}/PaxHeaders.0/${name.slice(slash + 1)}`.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else parts.push(p);
  }
  const joined = (name.startsWith('/') ? '/' : '') + parts.join('/');
  return toAscii(joined).slice(0, 100).replace(/\/+$/, '');
}

/** Splits a long ASCII path into ustar prefix (<= 155) and name (<= 100) at a slash, as Go's splitUSTARPath. */
function splitUstar(name: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  const n = name.length;
  if (n <= 100 || !isAscii(name)) return undefined;
  let i = n > 156 ? 155 : name[n - 1] === 0x2f ? n - 2 : n - 1;
  while (i > 0 && name[i] !== 0x2f) i--;
  const nameLen = n - i - 1;
  if (i === 0 || nameLen > 100 || nameLen === 0) return undefined;
  return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
}

/** Like Go's formatString over toASCII: non-ASCII characters dropped, cut to the field. */
function putText(b: Uint8Array, off: number, len: number, text: string): void {
  const bytes = encodeText(toAscii(text));
  b.set(bytes.subarray(0, len), off);
}

function toAscii(s: string): string {
  return s.replace(/[^\x00-\x7f]/g, '');
}

function needText(text: string, len: number, key: string, records: Record<string, string>): void {
  const bytes = encodeText(text);
  if (bytes.length > len || !isAscii(bytes)) records[key] = text;
}

function needNumber(v: number, len: number, what: string, key: string | undefined, records: Record<string, string>): void {
  if (fitsOctal(v, len)) return;
  if (key === undefined || !Number.isFinite(v) || (key !== 'mtime' && (!Number.isSafeInteger(v) || v < 0))) {
    throw invalid(`${what} ${v} cannot be stored in a tar header`);
  }
  records[key] = String(v);
}

/** Octal, or 0 when the value went to a pax record (as Go writes it). */
function putOctal(b: Uint8Array, off: number, len: number, v: number): void {
  formatOctal(b, off, len, fitsOctal(v, len) ? v : 0);
}

function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return false;
  return true;
}

function invalid(msg: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `encodeHeader: ${msg}`);
}
