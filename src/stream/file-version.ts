import type { Stats } from 'node:fs';
import { fileStats } from './file-size.js';

/**
 * What tells one version of a file from the next without reading it: size, modification and
 * change times, inode and device. A file renamed over the path (a new inode) or written in place
 * (new times) has another version; reading it changes nothing.
 * @example
 * fileVersionOf(await stat('old.bin')); // '1048576:1732456789012.5:1732456789012.5:1234:2049'
 */
export function fileVersionOf(st: Stats): string {
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;
}

/** {@link fileVersionOf} the file at `path`, and its size; a failure to stat it is ERR_IO naming it. */
export async function fileVersion(path: string): Promise<{ version: string; size: number }> {
  const st = await fileStats(path);
  return { version: fileVersionOf(st), size: st.size };
}

/** What a {@link perFileVersion} cache holds for a path: the version computed for, and its answer. */
export interface PerVersion<T> {
  version: string;
  value: Promise<T>;
}

/**
 * `compute()`'s answer for this version of the file at `path` (`st`, its status): computed once
 * however many ask at the same time, again once the file changes. A failure is not kept: the next
 * call computes again.
 * @example
 * const digest = await perFileVersion(digests, path, await stat(path), () => checkStoredDelta(path));
 */
export function perFileVersion<T>(cache: Map<string, PerVersion<T>>, path: string, st: Stats, compute: () => Promise<T>): Promise<T> {
  const version = fileVersionOf(st);
  const known = cache.get(path);
  if (known?.version === version) return known.value;
  const entry = { version, value: compute() };
  cache.set(path, entry);
  entry.value.catch(() => {
    if (cache.get(path) === entry) cache.delete(path);
  });
  return entry.value;
}
