import { assertBytes, copyBytes } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { entryTypeOf, isHeaderOnlyType, type TarEntry } from './entry.js';
import { BLOCK, isZeroBlock, parseHeader, type TarHeader } from './header.js';
import { mergePax, parsePaxRecords } from './pax.js';
import { checkSafePath } from './path-safety.js';
import { cString } from './_text.js';
import { isOpaqueWhiteoutName, isWhiteoutName } from './whiteout.js';

/** Callbacks a TarReader calls, in archive order. */
export interface TarReaderHandlers {
  /** A new entry; its content follows through `ondata`. */
  onentry(entry: TarEntry): void;
  /** Content chunks (padding excluded), views into the pushed chunk; size 0 gives one empty final call. */
  ondata(entry: TarEntry, chunk: Uint8Array, final: boolean): void;
  /** A pax global header: its raw blocks (header and data, verbatim) and its records. */
  onglobal?(blocks: Uint8Array, records: Record<string, string>): void;
  /** Everything after the last entry's padded content, verbatim (zero blocks, record padding); may be empty. */
  onend(trailer: Uint8Array): void;
}

/** Limits and policy for a TarReader. */
export interface TarReaderOptions {
  /** Cap on one entry's header blocks (GNU long names, pax data, all together). Default 1 MiB. */
  maxHeaderBytes?: number;
  /** Cap on the bytes after the end-of-archive marker. Default 1 MiB (GNU tar pads to 10 KiB). */
  maxTrailerBytes?: number;
  /** Accept absolute names and `..` components (name, and hardlink targets). Default false. */
  allowUnsafePaths?: boolean;
}

const EMPTY = new Uint8Array(0);
const EMPTY_RECORDS: Record<string, string> = Object.freeze(Object.create(null));
const MIB = 1 << 20;

// Reader states: what the next input bytes are.
const S_HEADER = 0; // a header block (or the end-of-archive marker)
const S_META = 1; // the data of an L/K/x/X/g header
const S_SPARSE = 2; // an old-GNU sparse extension block
const S_DATA = 3; // entry content, streamed through
const S_PAD = 4; // padding after the content
const S_TRAILER = 5; // after the end-of-archive marker
const S_DONE = 6;

const T_LONGNAME = 0x4c; // 'L'
const T_LONGLINK = 0x4b; // 'K'
const T_PAX = 0x78; // 'x'
const T_PAX_SOLARIS = 0x58; // 'X'
const T_GLOBAL = 0x67; // 'g'

/**
 * Streaming, byte-exact tar reader (push/ondata, like fflate): ustar, GNU (long names, old sparse),
 * pax (x and g), v7. It never buffers content: memory is bounded by `maxHeaderBytes`, a few blocks
 * and `maxTrailerBytes`, whatever the archive's size. Every failure is a RolldeltaError.
 * @example
 * const r = new TarReader({
 *   onentry: (e) => console.log(e.name),
 *   ondata: (e, chunk, final) => hash.update(chunk),
 *   onend: (trailer) => {},
 * });
 * for await (const chunk of fileStream) r.push(chunk);
 * r.push(new Uint8Array(0), true);
 */
export class TarReader {
  private readonly h: TarReaderHandlers;
  private readonly maxHeader: number;
  private readonly maxTrailer: number;
  private readonly allowUnsafe: boolean;
  private state = S_HEADER;
  /** Archive offset of the first byte of the chunk being pushed. */
  private base = 0;
  private failed: unknown = undefined;
  // a block being assembled across chunks
  private readonly block = new Uint8Array(BLOCK);
  private blockLen = 0;
  // extended-header data being assembled
  private meta: Uint8Array = EMPTY;
  private metaLen = 0;
  private metaType = 0;
  private metaSize = 0;
  // the pending chain of header blocks for the next entry
  private pending: Uint8Array[] = [];
  private pendingLen = 0;
  private chainStart = 0;
  private longName: string | undefined = undefined;
  private longLink: string | undefined = undefined;
  private paxRecords: Record<string, string> | undefined = undefined;
  private globals: Record<string, string> = Object.create(null);
  private header: TarHeader | undefined = undefined;
  // the current entry's content
  private entry: TarEntry | undefined = undefined;
  private remaining = 0;
  private padNeed = 0;
  private padLen = 0;
  private trailer: Uint8Array[] = [];
  private trailerLen = 0;

  constructor(handlers: TarReaderHandlers, opts: TarReaderOptions = {}) {
    if (handlers === null || typeof handlers !== 'object' || typeof handlers.onentry !== 'function' || typeof handlers.ondata !== 'function' || typeof handlers.onend !== 'function') {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'TarReader needs handlers with onentry, ondata and onend functions');
    }
    this.h = handlers;
    this.maxHeader = checkCap(opts.maxHeaderBytes, 'maxHeaderBytes');
    this.maxTrailer = checkCap(opts.maxTrailerBytes, 'maxTrailerBytes');
    this.allowUnsafe = opts.allowUnsafePaths === true;
  }

  /** Bytes the reader holds between pushes (partial blocks, pending headers, trailer); never content. */
  get bufferedBytes(): number {
    return this.blockLen + this.pendingLen + this.metaLen + this.padLen + this.trailerLen;
  }

  /**
   * Feeds the next bytes of the archive, cut anywhere. `final` says no more bytes follow; then
   * `onend` is called, or ERR_TRUNCATED thrown when the archive stops inside a header or an entry.
   */
  push(chunk: Uint8Array, final = false): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.state === S_DONE) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'TarReader.push called after the final chunk');
    assertBytes(chunk, 'tar chunk');
    try {
      this.consume(chunk);
      this.base += chunk.length;
      if (final) this.finish();
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  private consume(chunk: Uint8Array): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      switch (this.state) {
        case S_HEADER:
        case S_SPARSE: {
          if (this.blockLen === 0 && this.pendingLen === 0 && this.state === S_HEADER) this.chainStart = this.base + pos;
          const k = Math.min(BLOCK - this.blockLen, n - pos);
          this.block.set(chunk.subarray(pos, pos + k), this.blockLen);
          this.blockLen += k;
          pos += k;
          if (this.blockLen === BLOCK) {
            this.blockLen = 0;
            if (this.state === S_HEADER) this.onHeaderBlock(pos);
            else this.onSparseBlock(pos);
          }
          break;
        }
        case S_META: {
          const k = Math.min(this.meta.length - this.metaLen, n - pos);
          this.meta.set(chunk.subarray(pos, pos + k), this.metaLen);
          this.metaLen += k;
          pos += k;
          if (this.metaLen === this.meta.length) this.onMetaData();
          break;
        }
        case S_DATA: {
          const entry = this.entry as TarEntry;
          const k = Math.min(this.remaining, n - pos);
          const view = chunk.subarray(pos, pos + k);
          pos += k;
          this.remaining -= k;
          if (this.remaining > 0) {
            this.h.ondata(entry, view, false);
            break;
          }
          const pad = padOf(entry.size);
          if (pad === 0) {
            this.endContent(entry, view);
          } else if (n - pos >= pad) {
            // the padding is all here: settle it, so the final call can carry paddingBytes
            this.takePadding(entry, chunk.subarray(pos, pos + pad));
            pos += pad;
            this.endContent(entry, view);
          } else {
            this.h.ondata(entry, view, false);
            this.state = S_PAD;
            this.padNeed = pad;
            this.padLen = 0;
          }
          break;
        }
        case S_PAD: {
          const k = Math.min(this.padNeed - this.padLen, n - pos);
          this.block.set(chunk.subarray(pos, pos + k), this.padLen);
          this.padLen += k;
          pos += k;
          if (this.padLen === this.padNeed) {
            const entry = this.entry as TarEntry;
            this.takePadding(entry, this.block.subarray(0, this.padNeed));
            this.padLen = 0;
            this.endContent(entry, EMPTY);
          }
          break;
        }
        case S_TRAILER: {
          this.addTrailer(chunk.subarray(pos));
          pos = n;
          break;
        }
      }
    }
  }

  private finish(): void {
    const st = this.state;
    if (st === S_TRAILER || (st === S_HEADER && this.blockLen === 0 && this.pendingLen === 0)) {
      const trailer = this.trailer.length === 1 ? this.trailer[0] : concat(this.trailer, this.trailerLen);
      this.trailer = [];
      this.trailerLen = 0;
      this.state = S_DONE;
      this.h.onend(trailer);
      return;
    }
    const at = this.base;
    let what: string;
    if (st === S_DATA) what = `inside the content of "${(this.entry as TarEntry).name}" (${this.remaining} of ${(this.entry as TarEntry).size} bytes missing)`;
    else if (st === S_PAD) what = `inside the padding after "${(this.entry as TarEntry).name}"`;
    else if (st === S_META) what = `inside an extended header (${this.meta.length - this.metaLen} bytes missing)`;
    else if (this.blockLen > 0) what = `inside a header block (${this.blockLen} of 512 bytes)`;
    else what = 'after extended headers, before the entry they describe';
    throw new RolldeltaError(ErrorCode.TRUNCATED, `tar archive ends at byte ${at} ${what}; the file was cut short, fetch it again`);
  }

  private onHeaderBlock(pos: number): void {
    const b = this.block;
    if (isZeroBlock(b)) {
      if (this.pendingLen > 0) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `tar archive has extended headers at byte ${this.chainStart} but no entry after them; the archive is corrupt`);
      }
      this.state = S_TRAILER;
      this.addTrailer(b);
      return;
    }
    const h = parseHeader(b);
    const t = h.typeflag;
    if (t === T_LONGNAME || t === T_LONGLINK || t === T_PAX || t === T_PAX_SOLARIS || t === T_GLOBAL) {
      if (t === T_GLOBAL && this.pendingLen > 0) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `tar pax global header at byte ${this.base + pos - BLOCK} interrupts the extended headers of an entry; the archive is corrupt`);
      }
      const padded = h.size + padOf(h.size);
      this.reserve(BLOCK + padded, h.size);
      this.pending.push(copyBytes(b));
      this.pendingLen += BLOCK;
      this.metaType = t;
      this.metaSize = h.size;
      this.meta = new Uint8Array(padded);
      this.metaLen = 0;
      this.state = S_META;
      if (padded === 0) this.onMetaData();
      return;
    }
    this.header = h;
    this.pending.push(copyBytes(b));
    this.pendingLen += BLOCK;
    if (h.isExtended) {
      this.state = S_SPARSE;
      return;
    }
    this.startEntry(pos);
  }

  private onSparseBlock(pos: number): void {
    this.reserve(BLOCK, BLOCK);
    this.pending.push(this.block.slice());
    this.pendingLen += BLOCK;
    if (this.block[504] === 0) this.startEntry(pos); // isextended flag of the extension block
  }

  /** Checks the header cap before anything is allocated for `bytes` more header bytes. */
  private reserve(bytes: number, declared: number): void {
    if (this.pendingLen + bytes > this.maxHeader) {
      throw new RolldeltaError(
        ErrorCode.LIMIT,
        `tar entry at byte ${this.chainStart} has ${this.pendingLen + bytes} bytes of headers (this one declares ${declared}), more than maxHeaderBytes ${this.maxHeader}; raise maxHeaderBytes if the archive is trusted`,
      );
    }
  }

  private onMetaData(): void {
    const data = this.meta.subarray(0, this.metaSize);
    const t = this.metaType;
    if (t === T_LONGNAME) this.longName = cString(data, 0, data.length);
    else if (t === T_LONGLINK) this.longLink = cString(data, 0, data.length);
    else {
      const records = parsePaxRecords(data);
      if (t === T_GLOBAL) {
        const blocks = concat([this.pending[0], this.meta], BLOCK + this.meta.length);
        this.pending = [];
        this.pendingLen = 0;
        this.meta = EMPTY;
        this.metaLen = 0;
        this.state = S_HEADER;
        this.globals = mergePax(this.globals, records);
        this.h.onglobal?.(blocks, records);
        return;
      }
      this.paxRecords = this.paxRecords === undefined ? records : Object.assign(this.paxRecords, records);
    }
    this.pending.push(this.meta);
    this.pendingLen += this.meta.length;
    this.meta = EMPTY;
    this.metaLen = 0;
    this.state = S_HEADER;
  }

  private startEntry(pos: number): void {
    const h = this.header as TarHeader;
    const own = this.paxRecords ?? EMPTY_RECORDS;
    const pax = mergePax(this.globals, own);
    // path, linkpath and size come from the entry's own records only: a global one would rename or
    // resize every entry (Go ignores globals entirely; GNU tar applies them).
    // GNU.sparse.name carries the real name of a pax-format sparse file (GNU 1.0 layout), as Go reads it
    const name = nonEmpty(own.path) ?? nonEmpty(own['GNU.sparse.name']) ?? this.longName ?? h.name;
    const linkname = nonEmpty(own.linkpath) ?? this.longLink ?? h.linkname;
    const type = entryTypeOf(h.typeflag, name);
    const paxSize = nonEmpty(own.size);
    const size = paxSize !== undefined ? paxInt(paxSize, 'size') : h.size;
    const entry: TarEntry = {
      name,
      linkname,
      type,
      typeflag: h.typeflag,
      size: isHeaderOnlyType(type) ? 0 : size,
      mode: h.mode,
      uid: pax.uid !== undefined ? paxInt(pax.uid, 'uid') : h.uid,
      gid: pax.gid !== undefined ? paxInt(pax.gid, 'gid') : h.gid,
      uname: pax.uname ?? h.uname,
      gname: pax.gname ?? h.gname,
      mtime: pax.mtime !== undefined ? paxTime(pax.mtime) : h.mtime,
      devmajor: h.devmajor,
      devminor: h.devminor,
      pax,
      headerBlocks: this.pending.length === 1 ? this.pending[0] : concat(this.pending, this.pendingLen),
      headerOffset: this.chainStart,
      dataOffset: this.base + pos,
      isWhiteout: isWhiteoutName(name),
      isOpaqueWhiteout: isOpaqueWhiteoutName(name),
    };
    if (!this.allowUnsafe) {
      checkSafePath(name, 'name');
      if (type === 'hardlink') checkSafePath(linkname, 'hardlink target');
    }
    this.pending = [];
    this.pendingLen = 0;
    this.header = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    this.paxRecords = undefined;
    this.entry = entry;
    this.remaining = entry.size;
    this.state = S_DATA;
    this.h.onentry(entry);
    if (entry.size === 0) this.endContent(entry, EMPTY);
  }

  private takePadding(entry: TarEntry, pad: Uint8Array): void {
    for (let i = 0; i < pad.length; i++) {
      if (pad[i] !== 0) {
        entry.paddingBytes = copyBytes(pad);
        return;
      }
    }
  }

  private endContent(entry: TarEntry, last: Uint8Array): void {
    this.state = S_HEADER;
    this.entry = undefined;
    this.h.ondata(entry, last, true);
  }

  private addTrailer(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.trailerLen + bytes.length > this.maxTrailer) {
      throw new RolldeltaError(
        ErrorCode.LIMIT,
        `tar archive has more than maxTrailerBytes ${this.maxTrailer} bytes after its end-of-archive marker; raise maxTrailerBytes if the archive is trusted`,
      );
    }
    this.trailer.push(copyBytes(bytes));
    this.trailerLen += bytes.length;
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function checkCap(v: number | undefined, what: string): number {
  if (v === undefined) return MIB;
  if (!Number.isSafeInteger(v) || v < BLOCK) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer of at least 512, got ${String(v)}`);
  }
  return v;
}

function paxInt(v: string, key: string): number {
  const x = /^[0-9]{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(x)) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `pax record ${key}=${JSON.stringify(v.slice(0, 40))} is not a decimal integer below 2^53; the archive is corrupt`);
  }
  return x;
}

function paxTime(v: string): number {
  if (!/^-?[0-9]{1,16}(\.[0-9]*)?$/.test(v)) {
    throw new RolldeltaError(ErrorCode.CORRUPT, `pax record mtime=${JSON.stringify(v.slice(0, 40))} is not a decimal time; the archive is corrupt`);
  }
  return Number(v);
}
