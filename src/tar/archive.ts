import type { TarEntry } from './entry.js';
import { TarReader, type TarReaderOptions } from './reader.js';
import { TarWriter } from './writer.js';

/** One item of a whole archive, in order: an entry with its content, or a pax global header. */
export type TarItem =
  | { kind: 'entry'; entry: TarEntry; data: Uint8Array }
  | { kind: 'global'; blocks: Uint8Array; records: Record<string, string> };

/** A whole archive as `readTar` returns it and `writeTar` takes it. */
export interface TarArchive {
  items: TarItem[];
  /** Everything after the last entry, verbatim. */
  trailer: Uint8Array;
}

/**
 * Reads a whole in-memory archive (the whole-buffer twin of TarReader). Content is returned as
 * views into `archive`, not copies.
 * @example
 * const { items } = readTar(bytes);
 * for (const it of items) if (it.kind === 'entry') console.log(it.entry.name, it.data.length);
 */
export function readTar(archive: Uint8Array, opts?: TarReaderOptions): TarArchive {
  const items: TarItem[] = [];
  let trailer: Uint8Array = new Uint8Array(0);
  const reader = new TarReader(
    {
      onentry: () => {},
      ondata: (entry, _chunk, final) => {
        // the whole archive is one chunk, so the content is one contiguous view
        if (final) items.push({ kind: 'entry', entry, data: archive.subarray(entry.dataOffset, entry.dataOffset + entry.size) });
      },
      onglobal: (blocks, records) => items.push({ kind: 'global', blocks, records }),
      onend: (t) => {
        trailer = t;
      },
    },
    opts,
  );
  reader.push(archive, true);
  return { items, trailer };
}

/**
 * Writes an archive from `readTar`'s items and trailer; `writeTar(readTar(a))` equals `a` byte for byte.
 * @example
 * const same = writeTar(readTar(bytes));
 */
export function writeTar(archive: TarArchive): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const w = new TarWriter((c) => {
    parts.push(c);
    total += c.length;
  });
  for (const it of archive.items) {
    if (it.kind === 'global') {
      w.writeRaw(it.blocks);
      continue;
    }
    w.beginEntry(it.entry.headerBlocks, it.entry.size);
    w.write(it.data);
    w.endEntry(it.entry.paddingBytes);
  }
  w.finish(archive.trailer);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
