import { stat } from 'node:fs/promises';
import { ioError } from './io-error.js';

/** The size of the file at `path`; a failure says which file. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw ioError(e, 'read', path);
  }
}
