import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { ioError } from '../stream/io-error.js';

/** `-` is stdin; anything else a file read in 1 MiB chunks. */
export function openInput(path: string): AsyncIterable<Uint8Array> {
  return path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
}

/** Size of an input file, or undefined for stdin. */
export async function inputSize(path: string): Promise<number | undefined> {
  if (path === '-') return undefined;
  try {
    return (await stat(path)).size;
  } catch (e) {
    throw ioError(e, 'read', path);
  }
}

/** Writes chunks to stdout (`-`, with backpressure) or atomically to a file; returns bytes written. */
export async function writeOutput(path: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  if (path !== '-') return writeFileAtomic(path, chunks);
  let n = 0;
  async function* counted() {
    for await (const c of chunks) {
      n += c.length;
      yield c;
    }
  }
  await pipeline(Readable.from(counted()), process.stdout, { end: false });
  return n;
}

/** Reads a whole input (a signature, a basis for diff) into memory. */
export async function readInput(path: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const c of openInput(path)) {
      parts.push(c);
      n += c.length;
    }
  } catch (e) {
    throw ioError(e, 'read', path === '-' ? 'standard input' : path);
  }
  return Buffer.concat(parts, n);
}
