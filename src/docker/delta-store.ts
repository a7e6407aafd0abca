import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory of image deltas, one file per (from, to) pair, named by a hash of the pair, and one
 * per (from, to, level) for the deltas made at a level other than the server's.
 * Files appear whole or not at all: they are written through a temporary file and a rename.
 * @example
 * const store = new DeltaStore('/var/lib/deltas');
 * await store.size('app:1', 'app:2'); // undefined until generated
 */
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
}
