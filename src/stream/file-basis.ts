import { open, type FileHandle } from 'node:fs/promises';
import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { directoryError, ioError } from './io-error.js';

/**
 * A basis backed by a file, read with positional reads: patching never loads the basis whole.
 * Each `read` returns a fresh buffer, so callers may hold on to it; `readInto` fills the caller's.
 * `open`'s `what` says what the file is in error messages ("cannot open the image delta d.rdimg");
 * a directory is refused at open (ERR_IO), where Linux would let it pass for a file of 4096 bytes.
 * @example
 * const basis = await FileBasis.open('app-v1.tar');
 * try { for await (const c of patchChunks(basis, deltaStream)) out.write(c) } finally { await basis.close() }
 * const delta = await FileBasis.open('v1-v2.rdimg', 'the image delta');
 */
export class FileBasis implements RandomAccessBasis {
  private constructor(
    private readonly fh: FileHandle,
    readonly length: number,
    readonly path: string,
    private readonly what: string,
  ) {}

  static async open(path: string, what = 'the basis'): Promise<FileBasis> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const stats = await fh.stat();
      if (stats.isDirectory()) throw directoryError(`open ${what}`, path);
      return new FileBasis(fh, stats.size, path, what);
    } catch (e) {
      await fh?.close().catch(() => {});
      throw ioError(e, `open ${what}`, path);
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    this.check(position, length); // before allocating what a hostile delta asks for
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(buf, 0, position, length);
    return buf;
  }

  async readInto(buf: Uint8Array, offset: number, position: number, length: number): Promise<void> {
    this.check(position, length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(buf, offset + done, length - done, position + done));
      } catch (e) {
        throw ioError(e, `read ${this.what}`, this.path);
      }
      if (n === 0) throw new RolldeltaError(ErrorCode.IO, `${this.path} shrank while it was being read; do not change ${this.what} while it is in use`);
      done += n;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private check(position: number, length: number): void {
    if (position < 0 || length < 0 || position + length > this.length) {
      throw new RolldeltaError(ErrorCode.CORRUPT, `a read of ${length} bytes at ${position} reaches past the end of ${this.path} (${this.length} bytes)`);
    }
  }
}
