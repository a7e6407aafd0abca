import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageArchive } from '../image/archive-reader.js';
import { perFileVersion, type PerVersion } from '../stream/file-version.js';

/**
 * Whether `ref` is an image ID in full, `sha256:` and 64 hex digits: what a device that follows a
 * moving tag names its own image by (a tag it was loaded under has moved on since).
 * @example
 * isImageIdRef('sha256:' + 'ab'.repeat(32)); // true
 * isImageIdRef('app:2'); // false
 */
export function isImageIdRef(ref: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(ref);
}

/** The ID of the one image in the archive at `path`. */
export async function imageIdIn(path: string): Promise<string> {
  const archive = await ImageArchive.open(path);
  try {
    return archive.image().id;
  } finally {
    await archive.close();
  }
}

/**
 * The image archives in a folder (files named `*.tar`, or as `names` says), by the ID of the image
 * each holds: each archive's index is read once per version of its file, so a folder is searched
 * again at the cost of a stat per archive, and an image found before is looked for first where it
 * was (one stat). An archive that cannot be read as an image is passed over.
 * @example
 * const archives = new ArchivesByImageId('/srv/images');
 * (await archives.find('sha256:…'))?.path; // '/srv/images/app_1.tar', or undefined
 */
export class ArchivesByImageId {
  /** Each archive's image ID, by path, with the version of the file it was read from. */
  private readonly ids = new Map<string, PerVersion<string>>();
  /** Where each image was last found: checked first (a stat), so a fleet's checks do not list the folder each time. */
  private readonly lastFound = new Map<string, string>();

  constructor(
    readonly dir: string,
    private readonly names = /\.tar$/,
  ) {}

  /** The ID of the image in the archive at `path` (`st`, its status), read once per version of the file. */
  idOf(path: string, st: Stats): Promise<string> {
    return perFileVersion(this.ids, path, st, () => imageIdIn(path));
  }

  /** An archive in the folder holding image `id`, its path and status, or undefined when none does. */
  async find(id: string): Promise<{ path: string; st: Stats } | undefined> {
    const last = this.lastFound.get(id);
    const there = last === undefined ? undefined : await this.holding(last, id);
    if (there) return there;
    this.lastFound.delete(id);
    const files = await readdir(this.dir).catch(() => [] as string[]);
    const present = new Set<string>();
    let found: { path: string; st: Stats } | undefined;
    for (const name of files.filter((n) => this.names.test(n)).sort()) {
      const path = join(this.dir, name);
      present.add(path);
      found ??= await this.holding(path, id);
    }
    // Archives removed since: their IDs would be kept for as long as the server runs.
    for (const path of this.ids.keys()) if (!present.has(path)) this.ids.delete(path);
    for (const [image, path] of this.lastFound) if (!present.has(path)) this.lastFound.delete(image);
    if (found !== undefined) this.lastFound.set(id, found.path);
    return found;
  }

  /** The archive at `path` with its status, when it is a file that holds image `id` now. */
  private async holding(path: string, id: string): Promise<{ path: string; st: Stats } | undefined> {
    const st = await stat(path).catch(() => undefined);
    return st?.isFile() === true && (await this.idOf(path, st).catch(() => undefined)) === id ? { path, st } : undefined;
  }
}
