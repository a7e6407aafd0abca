import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ioError } from './io-error.js';

/** The status of the file at `path`; a failure says which file. */
export async function fileStats(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (e) {
    throw ioError(e, 'read', path);
  }
}

/** The size of the file at `path`; a failure says which file. */
export async function fileSize(path: string): Promise<number> {
  return (await fileStats(path)).size;
}
