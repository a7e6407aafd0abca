/**
 * A basis patch can read at any position: a Uint8Array, or an object backed by a file, a network
 * range reader or anything else. Reads never go past `length`. A read may return a view into a
 * buffer the reader reuses; the caller consumes it before the next read.
 */
export interface RandomAccessBasis {
  readonly length: number;
  read(position: number, length: number): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional: reads `length` bytes at `position` into `buf` at `offset`. Patching uses it to read
   * straight into its output chunks, many reads in flight at once, allocating nothing per read.
   */
  readInto?(buf: Uint8Array, offset: number, position: number, length: number): void | Promise<void>;
}

/** A basis over bytes in memory. */
export function bytesBasis(bytes: Uint8Array): RandomAccessBasis {
  return {
    length: bytes.length,
    read: (position, length) => bytes.subarray(position, position + length),
    readInto: (buf, offset, position, length) => buf.set(bytes.subarray(position, position + length), offset),
  };
}
