/**
 * A basis patch can read at any position: a Uint8Array, or an object backed by a file, a network
 * range reader or anything else. Reads never go past `length`. A read may return a view into a
 * buffer the reader reuses; the caller consumes it before the next read.
 */
export interface RandomAccessBasis {
  readonly length: number;
  read(position: number, length: number): Uint8Array | Promise<Uint8Array>;
}

/** A basis over bytes in memory. */
export function bytesBasis(bytes: Uint8Array): RandomAccessBasis {
  return {
    length: bytes.length,
    read: (position, length) => bytes.subarray(position, position + length),
  };
}
