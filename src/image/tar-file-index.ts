import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { FileBasis } from '../stream/file-basis.js';
import { BLOCK, isZeroBlock, parseHeader } from '../tar/header.js';
import { parsePaxRecords } from '../tar/pax.js';

/** Where one member of a tar file lives: its content is `size` bytes at `dataOffset`. */
export interface TarFileEntry {
  name: string;
  typeflag: number;
  linkname: string;
  size: number;
  dataOffset: number;
}

/** Longest GNU long name or pax header read while indexing (an image archive's are tiny). */
const MAX_META = 1 << 20;

function normalize(name: string): string {
  return name.replace(/^\.\//, '').replace(/\/+$/, '');
}

/**
 * Indexes a tar file by reading only its headers (positional reads, content skipped), so an
 * image archive of gigabytes is indexed in milliseconds. Names lose a leading `./` and trailing
 * slashes; pax `path`/`linkpath` and GNU long names are honoured.
 * @example
 * const entries = await indexTarFile(await FileBasis.open('image.tar'));
 * entries.get('manifest.json'); // { dataOffset, size, ... }
 */
export async function indexTarFile(file: FileBasis): Promise<Map<string, TarFileEntry>> {
  const out = new Map<string, TarFileEntry>();
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + BLOCK <= file.length) {
    const block = await file.read(pos, BLOCK);
    if (isZeroBlock(block)) break;
    const h = parseHeader(block);
    const dataOffset = pos + BLOCK;
    if (dataOffset + h.size > file.length) {
      throw new RolldeltaError(ErrorCode.TRUNCATED, `the archive ends inside ${JSON.stringify(h.name)} (${h.size} bytes at ${dataOffset}, file is ${file.length}); it is truncated`);
    }
    pos = dataOffset + Math.ceil(h.size / BLOCK) * BLOCK;
    const flag = String.fromCharCode(h.typeflag);
    if (flag === 'L' || flag === 'K' || flag === 'x') {
      if (h.size > MAX_META) throw new RolldeltaError(ErrorCode.LIMIT, `a tar metadata header of ${h.size} bytes exceeds ${MAX_META}`);
      const data = await file.read(dataOffset, h.size);
      if (flag === 'x') pax = parsePaxRecords(data);
      else {
        const s = new TextDecoder().decode(data).replace(/\0.*$/s, '');
        if (flag === 'L') longName = s;
        else longLink = s;
      }
      continue;
    }
    if (flag === 'g') continue;
    const name = normalize(pax.path ?? longName ?? h.name);
    out.set(name, { name, typeflag: h.typeflag, linkname: pax.linkpath ?? longLink ?? h.linkname, size: h.size, dataOffset });
    longName = longLink = undefined;
    pax = {};
  }
  return out;
}
