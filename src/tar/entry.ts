/** What a tar entry is, from its typeflag (and, for old archives, a trailing slash on its name). */
export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'directory' | 'fifo' | 'contiguous' | 'other';

/**
 * One entry of a tar archive as the reader found it: the parsed fields and the raw blocks they came
 * from, so that a writer can reproduce the archive byte for byte.
 * @example
 * new TarReader({ onentry: (e) => console.log(e.type, e.name, e.size), ondata() {}, onend() {} });
 */
export interface TarEntry {
  /** Resolved path (pax path > GNU long name > ustar prefix/name), as in the archive (no normalising). */
  name: string;
  /** Link target (pax linkpath > GNU long link > ustar linkname). */
  linkname: string;
  type: TarEntryType;
  /** The raw typeflag byte of the entry's own header (0x30 for '0'). */
  typeflag: number;
  /** Content bytes that follow the header blocks (0 for header-only types, as in Go's archive/tar). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch; fractional when a pax mtime says so. */
  mtime: number;
  devmajor: number;
  devminor: number;
  /** This entry's pax records merged over the global ones. */
  pax: Record<string, string>;
  /**
   * Every raw 512-byte block that precedes the content: GNU L/K headers with their data blocks, pax x
   * headers with theirs, the entry's own header and old-GNU sparse extension blocks, verbatim.
   */
  headerBlocks: Uint8Array;
  /** Archive offset of the first header block of this entry. */
  headerOffset: number;
  /** Archive offset of the content. */
  dataOffset: number;
  /** True for `.wh.<name>` and `.wh..wh..opq` (OCI/Docker whiteouts; basename check). */
  isWhiteout: boolean;
  /** True for `.wh..wh..opq` (opaque directory marker). */
  isOpaqueWhiteout: boolean;
  /**
   * The bytes between the content's end and the next 512 boundary, only when they are not all zero
   * (junk padding). Set before the `final` data call; pass it to `TarWriter.endEntry` to stay exact.
   */
  paddingBytes?: Uint8Array;
}

/**
 * Maps a typeflag byte to its entry type; `name` resolves the old trailing-slash directory form.
 * @example
 * entryTypeOf(0x35, 'etc/'); // 'directory'
 */
export function entryTypeOf(typeflag: number, name: string): TarEntryType {
  switch (typeflag) {
    case 0x00:
      return name.endsWith('/') ? 'directory' : 'file'; // pre-POSIX archives mark directories by a slash
    case 0x30: // '0'
      return 'file';
    case 0x31:
      return 'hardlink';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'chardev';
    case 0x34:
      return 'blockdev';
    case 0x35:
      return 'directory';
    case 0x36:
      return 'fifo';
    case 0x37:
      return 'contiguous';
    default:
      return 'other';
  }
}

/**
 * The typeflag byte that `TarWriter.encodeHeader` writes for a type (-1 for 'other', which has none).
 * @example
 * typeflagOf('symlink'); // 0x32
 */
export function typeflagOf(type: TarEntryType): number {
  switch (type) {
    case 'file':
      return 0x30;
    case 'hardlink':
      return 0x31;
    case 'symlink':
      return 0x32;
    case 'chardev':
      return 0x33;
    case 'blockdev':
      return 0x34;
    case 'directory':
      return 0x35;
    case 'fifo':
      return 0x36;
    case 'contiguous':
      return 0x37;
    default:
      return -1;
  }
}

/**
 * Types whose entries never carry content, whatever their size field says (Go's isHeaderOnlyType).
 * @example
 * isHeaderOnlyType('directory'); // true
 */
export function isHeaderOnlyType(type: TarEntryType): boolean {
  return type === 'hardlink' || type === 'symlink' || type === 'chardev' || type === 'blockdev' || type === 'directory' || type === 'fifo';
}
