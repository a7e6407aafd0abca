import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory of image deltas, one file per (from, to) pair, named by a hash of the pair.
 * Files appear whole or not at all: they are written through a temporary file and a rename.
 * @example
 * const store = new DeltaStore('/var/lib/deltas');
 * await store.size('app:1', 'app:2'); // undefined until generated
 */
export class DeltaStore {
  constructor(readonly dir: string) {}

  /** Where the delta from `from` to `to` lives (or will). */
  pathFor(from: string, to: string): string {
    const key = createHash('sha256').update(`${from}\0${to}`).digest('hex');
    return join(this.dir, `${key}.rdimg`);
  }

  /** Bytes of the stored delta, or undefined when there is none yet. */
  async size(from: string, to: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathFor(from, to))).size;
    } catch {
      return undefined;
    }
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }
}
