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
