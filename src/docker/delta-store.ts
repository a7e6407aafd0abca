import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory of image deltas, one file per (from, to) pair, named by a hash of the pair, and one
 * per (from, to, level) for the deltas made at a level other than the server's.
 * Files appear whole or not at all: they are written through a temporary file and a rename.
 * @example
 * const store = new DeltaStore('/var/lib/deltas');
 * await store.size('app:1', 'app:2'); // undefined until generated
 */
/** How writeFileAtomic names its temporary files: `.<name>.<12 hex digits>.tmp`. */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

export class DeltaStore {
  constructor(readonly dir: string) {}

  /**
   * Where the delta from `from` to `to` lives (or will); `level`, when given, names the one made at
   * that level instead of the server's (a pair without it keeps the name it always had).
   */
  pathFor(from: string, to: string, level?: number): string {
    const pair = level === undefined ? `${from}\0${to}` : `${from}\0${to}\0level=${level}`;
    const key = createHash('sha256').update(pair).digest('hex');
    return join(this.dir, `${key}.rdimg`);
  }

  /** Bytes of the stored delta, or undefined when there is none yet. */
  async size(from: string, to: string, level?: number): Promise<number | undefined> {
    return (await this.stat(from, to, level))?.size;
  }

  /**
   * The stored delta's file status (size, mtime, inode: what tells a regenerated delta from the
   * one before it), or undefined when there is none yet.
   */
  async stat(from: string, to: string, level?: number): Promise<Stats | undefined> {
    try {
      return await stat(this.pathFor(from, to, level));
    } catch {
      return undefined;
    }
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /**
   * Removes the temporary files of generations that never finished (a process killed while
   * writing leaves them) last modified more than `olderThanMs` ago (default an hour: a running
   * generation's file is newer); resolves to how many it removed.
   * @example
   * await new DeltaStore('/var/lib/deltas').removeStaleTempFiles(); // 0 in a tidy store
   */
  async removeStaleTempFiles(olderThanMs = 3_600_000): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0; // no store yet, nothing left over
    }
    const before = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names.filter((n) => TEMP_FILE.test(n))) {
      const path = join(this.dir, name);
      try {
        if ((await stat(path)).mtimeMs >= before) continue;
        await unlink(path);
        removed++;
      } catch {
        // gone meanwhile (another server on the store), or not ours to remove: leave it
      }
    }
    return removed;
  }
}
