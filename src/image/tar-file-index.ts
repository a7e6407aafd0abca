import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { TarEntry, TarEntryType } from '../tar/entry.js';
import { BLOCK } from '../tar/header.js';
import { TarReader } from '../tar/reader.js';

/** Where one entry of a tar file lives: its content is `size` bytes at `dataOffset`. */
export interface TarFileEntry {
  /** Normalised name: no leading `./`, no trailing or doubled slashes. */
  name: string;
  type: TarEntryType;
  typeflag: number;
  /** Link target as stored (hard links: from the archive root; symlinks: from the entry's folder). */
  linkname: string;
  size: number;
  dataOffset: number;
}

/** A file read with positional reads (FileBasis fits). */
export interface PositionalFile {
  readonly length: number;
  read(position: number, length: number): Uint8Array | Promise<Uint8Array>;
}

/** Caps for indexing hostile archives. */
export interface TarFileIndexOptions {
  /** Most entries kept (an image archive has tens). Default 100 000. */
  maxEntries?: number;
  /** Cap on one entry's extended headers (GNU long names, pax). Default 1 MiB. */
  maxHeaderBytes?: number;
}

/** Content is skipped by pushing views of this (never filled) instead of reading it; made on first use. */
let zeros: Uint8Array | undefined;
const MAX_LINK_HOPS = 16;

/**
 * Removes a leading `./`, doubled and trailing slashes: `./blobs//sha256/x/` is `blobs/sha256/x`.
 * @example
 * normalizeEntryName('./manifest.json'); // 'manifest.json'
 */
export function normalizeEntryName(name: string): string {
  return name.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

/**
 * Indexes a tar FILE by its headers alone: the project's TarReader parses every header (ustar,
 * GNU long names, pax, path safety), while content is skipped by seeking, never read, so an image
 * archive of gigabytes is indexed with a few dozen small reads. A later entry of the same name
 * replaces an earlier one, as extraction would. Truncation, a bad header checksum, `..` or
 * absolute names are RolldeltaErrors.
 * @example
 * const file = await FileBasis.open('image.tar');
 * const index = await indexTarFile(file);
 * index.get('manifest.json'); // { dataOffset: 512, size: 190, type: 'file', ... }
 */
export async function indexTarFile(file: PositionalFile, opts: TarFileIndexOptions = {}): Promise<Map<string, TarFileEntry>> {
  const maxEntries = opts.maxEntries ?? 100_000;
  const out = new Map<string, TarFileEntry>();
  let current: TarEntry | undefined;
  let ended = false;
  const reader = new TarReader(
    {
      onentry(e) {
        current = e;
        if (out.size >= maxEntries && !out.has(normalizeEntryName(e.name))) {
          throw new RolldeltaError(ErrorCode.LIMIT, `the archive has more than ${maxEntries} entries; it is not an image archive, or raise maxEntries`);
        }
        const name = normalizeEntryName(e.name);
        out.set(name, { name, type: e.type, typeflag: e.typeflag, linkname: e.linkname, size: e.size, dataOffset: e.dataOffset });
      },
      ondata() {},
      onend() {
        ended = true;
      },
    },
    { maxHeaderBytes: opts.maxHeaderBytes },
  );
  const length = file.length;
  let pos = 0;
  while (pos < length) {
    // one header block at a time: the reader tells us (through onentry) when content begins
    const block = await file.read(pos, Math.min(BLOCK, length - pos));
    pos += block.length;
    reader.push(block);
    if (current === undefined) continue;
    const skip = current.size + ((BLOCK - (current.size % BLOCK)) % BLOCK);
    const name = current.name;
    current = undefined;
    if (skip === 0) continue;
    if (pos + skip > length) {
      throw new RolldeltaError(ErrorCode.TRUNCATED, `the archive ends inside ${JSON.stringify(name)} (it needs ${skip} bytes at ${pos}, the file has ${length}); it was cut short, save or copy it again`);
    }
    zeros ??= new Uint8Array(1 << 20);
    for (let left = skip; left > 0; left -= zeros.length) reader.push(zeros.subarray(0, Math.min(left, zeros.length)));
    pos += skip;
  }
  if (!ended) reader.push(new Uint8Array(0), true);
  return out;
}

/**
 * The entry `name` names, following hard links (targets from the archive root) and symbolic
 * links (relative to the link's folder) as `docker save` and skopeo write them for shared layers.
 * A link that leaves the archive, loops, or points nowhere is a RolldeltaError.
 * @example
 * resolveTarEntry(index, 'abc/layer.tar'); // the entry '../def/layer.tar' links to
 */
export function resolveTarEntry(index: ReadonlyMap<string, TarFileEntry>, name: string): TarFileEntry {
  let key = checkedName(name, name);
  for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
    const e = index.get(key);
    if (e === undefined) {
      throw new RolldeltaError(ErrorCode.CORRUPT, `the archive has no entry ${JSON.stringify(key)}${key === name ? '' : ` (reached from ${JSON.stringify(name)})`}; it is incomplete or damaged`);
    }
    if (e.type === 'hardlink') key = checkedName(e.linkname, name);
    else if (e.type === 'symlink') key = checkedName(joinLink(e.name, e.linkname, name), name);
    else if (e.type === 'file' || e.type === 'contiguous') return e;
    else throw new RolldeltaError(ErrorCode.CORRUPT, `archive entry ${JSON.stringify(key)} is a ${e.type}, not a file; the archive is damaged`);
  }
  throw new RolldeltaError(ErrorCode.CORRUPT, `archive entry ${JSON.stringify(name)} is a chain of more than ${MAX_LINK_HOPS} links (a loop?); the archive is damaged`);
}

function checkedName(target: string, from: string): string {
  if (typeof target !== 'string' || target.startsWith('/') || target.includes('\0') || target.split('/').includes('..')) {
    throw new RolldeltaError(ErrorCode.UNSAFE_PATH, `archive reference ${JSON.stringify(String(target)).slice(0, 200)} (from ${JSON.stringify(from).slice(0, 200)}) points outside the archive; refusing a hostile archive`);
  }
  return normalizeEntryName(target);
}

/** A symlink target resolved against the link's folder; `..` may climb, but never above the root. */
function joinLink(linkName: string, target: string, from: string): string {
  if (target.startsWith('/')) return checkedName(target, from);
  const parts = linkName.split('/').slice(0, -1);
  for (const p of target.split('/')) {
    if (p === '..') {
      if (parts.length === 0) checkedName(target, from);
      parts.pop();
    } else if (p !== '.' && p !== '') parts.push(p);
  }
  return parts.join('/');
}
