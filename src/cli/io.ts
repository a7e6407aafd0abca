import { fstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, isRolldeltaError, RolldeltaError } from '../core/errors.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { fileSize } from '../stream/file-size.js';
import { ioError, namingFile } from '../stream/io-error.js';
import { reusedFileChunks } from '../stream/reused-chunks.js';

/**
 * `-` is stdin; anything else a file read in 1 MiB chunks through two reused buffers (every consumer
 * here, matcher or decoder, copies what it keeps before it asks for the next chunk).
 */
export function openInput(path: string): AsyncIterable<Uint8Array> {
  return path === '-' ? process.stdin : reusedFileChunks(path, 0, 1 << 20);
}

/** Size of an input file, or undefined for stdin. */
export async function inputSize(path: string): Promise<number | undefined> {
  return path === '-' ? undefined : fileSize(path);
}

/**
 * The size of the file standard input is redirected from (`< old.bin`), or undefined for a pipe,
 * a terminal or a socket: rdiff stats stdin the same way to pick its default block length, so a
 * signature of `- < file` matches rdiff's only when this size is used.
 * @example
 * const size = (await inputSize(basis)) ?? stdinFileSize();
 */
export function stdinFileSize(): number | undefined {
  try {
    const st = fstatSync(0);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Writes chunks to stdout (`-`, with backpressure) or atomically to a file; returns bytes written. */
export async function writeOutput(path: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  if (path !== '-') return writeFileAtomic(path, chunks);
  let n = 0;
  let sourceFailure: unknown;
  async function* counted() {
    try {
      for await (const c of chunks) {
        n += c.length;
        yield c;
      }
    } catch (e) {
      sourceFailure = e;
      throw e;
    }
  }
  try {
    await pipeline(Readable.from(counted(), { objectMode: false }), process.stdout, { end: false });
  } catch (e) {
    if (e === sourceFailure) throw e;
    // The reader went away (`| head`): say so in one line, not with a stack.
    if ((e as NodeJS.ErrnoException)?.code === 'EPIPE') throw new RolldeltaError(ErrorCode.IO, 'standard output was closed by its reader before the end: the output is incomplete', { cause: e });
    // Any other failure of standard output (`> /dev/full`, a disk error): one line too.
    throw ioError(e, 'write', 'standard output');
  }
  return n;
}

/**
 * Reads a whole input (a signature, a basis for diff) into memory. A file is read into one buffer of
 * its size: gathering 1 MiB chunks and joining them held the input twice and cost a second copy
 * (0.5 s and 256 MB more peak memory for a 256 MiB basis, measured).
 */
export async function readInput(path: string): Promise<Uint8Array> {
  try {
    if (path !== '-') return await readFile(path);
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const c of process.stdin) {
      parts.push(c as Uint8Array);
      n += (c as Uint8Array).length;
    }
    return Buffer.concat(parts, n);
  } catch (e) {
    throw ioError(e, 'read', path === '-' ? 'standard input' : path);
  }
}

/** Codes about something other than the input a decoder read: the basis, the command's own options, a stop. */
const NOT_THE_INPUTS = new Set<string>([ErrorCode.IO, ErrorCode.ABORTED, ErrorCode.BASIS_MISMATCH, ErrorCode.INVALID_ARGUMENT]);

/**
 * A decoder's failure (a truncated or damaged delta, a signature given for a delta) prefixed with
 * the input it was reading, as the image commands name theirs: "update.rdelta: the input ended
 * inside ...". ERR_IO names its file already; a message that starts with the path is left alone.
 * @example
 * await patchFile(b, d, o).catch((e) => { throw namingInput(e, d) });
 */
export function namingInput(e: unknown, path: string): unknown {
  if (!isRolldeltaError(e) || NOT_THE_INPUTS.has(e.code)) return e;
  const name = path === '-' ? 'standard input' : path;
  return e.message.startsWith(`${name} `) || e.message.startsWith(`${name}:`) ? e : namingFile(e, name);
}
