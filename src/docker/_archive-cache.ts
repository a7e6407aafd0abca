import { readdir, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** How a source names the archives it caches: an image's (or manifest's) digest. */
export const CACHED_ARCHIVE = /^[0-9a-f]{64}\.tar$/;
/**
 * An archive used more recently than this is never removed: the generation it was handed to opens
 * it at once (and then holds it open, which keeps its bytes whatever happens to its name).
 */
const IN_USE_MS = 60_000;

/** Default of `keepArchives`. */
export const KEEP_ARCHIVES = 8;

/**
 * Checks a `keepArchives` option: a whole number from 1 (ERR_INVALID_ARGUMENT otherwise), the
 * default when undefined.
 * @example
 * keepArchivesOf(undefined); // 8
 */
export function keepArchivesOf(v: number | undefined): number {
  if (v === undefined) return KEEP_ARCHIVES;
  if (!Number.isSafeInteger(v) || v < 1) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `keepArchives must be a whole number from 1, got ${String(v)}`);
  return v;
}

/**
 * The image archives a delta-server source caches in `dir` (named `<64 hex>.tar`; other files
 * there, such as a store's deltas, are not looked at), kept to the `keep` most recently used: a
 * server saves every new release's image there, and without a bound they filled its disk. Use is
 * told by each file's mtime, so the order outlives a restart.
 * @example
 * const cache = new ArchiveCache('/srv/cache', 8);
 * await cache.used(path); // handed to a generation
 * await cache.prune(); // after a new archive is written
 */
export class ArchiveCache {
  constructor(
    readonly dir: string,
    readonly keep: number,
  ) {}

  /** Notes that the archive at `path` is used now. */
  async used(path: string): Promise<void> {
    const now = new Date();
    await utimes(path, now, now).catch(() => {}); // gone meanwhile: the next use saves it again
  }

  /**
   * Removes the least recently used archives beyond `keep`, but none used in the last minute;
   * resolves to how many it removed. A folder or file it cannot read or remove is left as it is.
   */
  async prune(): Promise<number> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => CACHED_ARCHIVE.test(n));
    if (names.length <= this.keep) return 0;
    const files = await Promise.all(names.map(async (n) => ({ path: join(this.dir, n), mtimeMs: (await stat(join(this.dir, n)).catch(() => undefined))?.mtimeMs })));
    const known = files.filter((f): f is { path: string; mtimeMs: number } => f.mtimeMs !== undefined).sort((a, b) => b.mtimeMs - a.mtimeMs);
    const before = Date.now() - IN_USE_MS;
    let removed = 0;
    for (const f of known.slice(this.keep)) {
      if (f.mtimeMs >= before) continue;
      if (await unlink(f.path).then(() => true, () => false)) removed++;
    }
    return removed;
  }
}
