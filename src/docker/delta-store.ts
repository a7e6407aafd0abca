import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checkByteLimit } from './_option-checks.js';

export interface DeltaStoreOptions {
  /**
   * Most bytes of deltas to keep; default none (every delta made is kept). Past it, once a delta
   * is made, the least recently used ones (made or served) are removed until the rest fit; never
   * the one just made. A device downloading one removed meanwhile finishes (its file stays open);
   * asked for again, it is made again.
   */
  maxBytes?: number;
}

/** What `evict` removed. */
export interface Eviction {
  files: number;
  bytes: number;
  /** The removed deltas' paths (what the server forgets of them). */
  paths: string[];
}

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
/** How pathFor names a delta. */
const DELTA_FILE = /^[0-9a-f]{64}\.rdimg$/;

export class DeltaStore {
  readonly maxBytes: number | undefined;
  /** When each delta was last made or served by this process (before that: its file's mtime). */
  private readonly lastUsed = new Map<string, number>();

  constructor(
    readonly dir: string,
    opts: DeltaStoreOptions = {},
  ) {
    this.maxBytes = opts.maxBytes === undefined ? undefined : checkByteLimit('maxBytes', opts.maxBytes);
  }

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

  /** Notes that the delta at `path` was made or served now: the last to be removed by `evict`. */
  used(path: string): void {
    this.lastUsed.set(path, Date.now());
  }

  /**
   * With `maxBytes`: removes the least recently used deltas until those left fit, never `keep` (the
   * one just made); resolves to what it removed (nothing without `maxBytes`).
   * @example
   * const store = new DeltaStore('/var/lib/deltas', { maxBytes: 20e9 });
   * await store.evict(store.pathFor('app:1', 'app:2')); // { files: 3, bytes: 41877, paths: [...] }
   */
  async evict(keep: string): Promise<Eviction> {
    const removed: Eviction = { files: 0, bytes: 0, paths: [] };
    if (this.maxBytes === undefined) return removed;
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => DELTA_FILE.test(n));
    } catch {
      // Not listed this time (EMFILE on a busy server): nothing removed, and nothing forgotten.
      return removed;
    }
    // Deltas gone by other hands (an operator, another server on the store) are forgotten too.
    const listed = new Set(names.map((name) => join(this.dir, name)));
    for (const path of this.lastUsed.keys()) if (!listed.has(path)) this.lastUsed.delete(path);
    const deltas: { path: string; size: number; when: number }[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const st = await stat(path).catch(() => undefined); // gone meanwhile
      if (st) deltas.push({ path, size: st.size, when: this.lastUsed.get(path) ?? st.mtimeMs });
    }
    let total = deltas.reduce((n, d) => n + d.size, 0);
    for (const d of deltas.sort((a, b) => a.when - b.when)) {
      if (total <= this.maxBytes) break;
      if (d.path === keep) continue;
      try {
        await unlink(d.path);
      } catch {
        continue; // not ours to remove (permissions), or gone: it counts as it stands
      }
      this.lastUsed.delete(d.path);
      total -= d.size;
      removed.files++;
      removed.bytes += d.size;
      removed.paths.push(d.path);
    }
    return removed;
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
