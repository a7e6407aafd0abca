/**
 * Buffers of one size handed out in turn, which several streams that go out one after another
 * take their chunks from, so they share one set instead of holding one each: the image apply's
 * old layers and then the patch rebuilding the new ones (image/ReadRing is one). A consumer must be
 * done with a chunk before it asks for the (count - 1)th one after it.
 * @example
 * const ring = new ReadRing(ImageArchive.READ_BYTES); // size 1 MiB, count 4
 * for await (const c of patchChunks(basis, delta, {}, ring)) out.write(c);
 */
export interface ChunkRing {
  /** Bytes of each buffer. */
  readonly size: number;
  /** Buffers in the ring. */
  readonly count: number;
  /** The next buffer in turn. */
  take(): Uint8Array;
}
