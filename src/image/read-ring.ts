import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { ChunkRing } from '../stream/chunk-ring.js';

/**
 * Four read buffers of one size handed out in turn, shared by the plain layers one consumer
 * streams one after another (`ImageArchive.layerStream(layer, ring)`): 4 MiB of 1 MiB buffers
 * however many layers pass, where a ring per layer left 4 MiB per layer to the next collection
 * (image apply of the 1 GiB bench pair: 14.5 MiB of buffers at the handover from old layers to
 * rebuilt ones, 9 MiB otherwise). The consumer must be done with a chunk before it asks for the
 * third one after it, as writeFileAtomic behind dockerArchiveChunks is. Only full-size reads use
 * the ring: a layer's short last chunk waits in the file writer's 1 MiB batch while later layers
 * go round the ring, so it gets a buffer of its own (sharing it too corrupted the output). A
 * {@link ChunkRing}: the image apply's patch takes its output chunks from it when every old layer
 * goes out before the rebuilt ones.
 * @example
 * const ring = new ReadRing(1 << 20);
 * for (const l of layers) for await (const c of archive.layerStream(l, ring)) out.write(c);
 */
export class ReadRing implements ChunkRing {
  readonly count = 4;
  private memory: Uint8Array | undefined;
  private readonly buffers: Uint8Array[] = [];
  private turn = 0;

  constructor(readonly size: number) {}

  /**
   * The ring's buffers as one block of `count` × `size` bytes, in turn order: for a reader that
   * wraps around a ring of its own, such as a docker save's body (`saveImagesToFile`'s `ring`),
   * run before or after, never while, the ring's buffers are in use.
   */
  block(): Uint8Array {
    return (this.memory ??= new Uint8Array(this.count * this.size));
  }

  /** The next buffer in turn. */
  take(): Uint8Array {
    const i = this.turn++ % this.count;
    return (this.buffers[i] ??= this.block().subarray(i * this.size, (i + 1) * this.size));
  }
}

/**
 * Refuses (ERR_INVALID_ARGUMENT) a ring handed in whose buffers are not `size` bytes, before any
 * work starts: a wrong ring is a caller's mistake, not a failure to retry.
 * @example
 * checkRingSize(opts.ring, ImageArchive.READ_BYTES, 'ring');
 */
export function checkRingSize(ring: ReadRing | undefined, size: number, what: string): void {
  if (ring !== undefined && ring.size !== size) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${what} must hold buffers of ${size} bytes, got ${String(ring.size)}`);
}
