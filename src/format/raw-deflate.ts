import { deflateSync, inflateSync } from 'fflate';

/**
 * Raw DEFLATE (RFC 1951, no header) for the native format's frame sections. The core uses fflate,
 * pure JavaScript that runs anywhere; the Node edges pass {@link nodeRawDeflate} (node:zlib, 2.5-3.5x
 * faster to pack and 3-4x faster to unpack, measured). Either decodes what the other encodes.
 */
export interface RawDeflate {
  /** Packs `data` at `level` (0-9). */
  deflate(data: Uint8Array, level: number): Uint8Array;
  /**
   * Optional: the same off the calling thread. An encoder asked to (`background`, below level 9)
   * packs frames with it and hands them on in order; its caller awaits `settled()`.
   */
  deflateAsync?(data: Uint8Array, level: number): Promise<Uint8Array>;
  /**
   * Unpacks `data`, which promises `rawLength` bytes: returns at most `rawLength + 1` bytes (so a
   * stream that yields more is caught without unbounded memory) and throws on invalid data.
   */
  inflate(data: Uint8Array, rawLength: number): Uint8Array;
  /**
   * Optional: CRC-32 (zlib's), continuing from `previous`, for the frame checks beside the packing;
   * the core's own is used without it. zlib's runs about 4x faster than the core's (measured).
   */
  crc32?(data: Uint8Array, previous: number): number;
}

/** fflate's raw DEFLATE. */
export const fflateRawDeflate: RawDeflate = {
  deflate: (data, level) => deflateSync(data, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 }),
  // fflate does not grow a caller's buffer: one byte more than promised bounds the memory.
  inflate: (data, rawLength) => inflateSync(data, { out: new Uint8Array(rawLength + 1) }),
};
