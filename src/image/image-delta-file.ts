import { FileBasis } from '../stream/file-basis.js';
import { readImageDeltaHeader, type ImageDeltaHeader } from './image-delta-format.js';

/**
 * The header of the image delta in the file at `path` (`what` names the file in its errors): what
 * it says of the two images, read without the rest.
 * @example
 * const { old, new: next } = await readImageDeltaFileHeader('v1-v2.rdimg', 'the stored delta');
 */
export async function readImageDeltaFileHeader(path: string, what: string): Promise<ImageDeltaHeader> {
  const file = await FileBasis.open(path, what);
  try {
    return (await readImageDeltaHeader((p, n) => file.read(p, n), file.length)).header;
  } finally {
    await file.close();
  }
}
