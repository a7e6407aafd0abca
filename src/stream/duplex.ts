import { Duplex } from 'node:stream';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/**
 * Wraps a chunk transformer (an async generator over the written chunks) as a Node Duplex:
 * the generator is pulled only as fast as the reader reads, so backpressure holds even when one
 * small input chunk expands into gigabytes (a long COPY). An AbortSignal fails the stream with
 * ERR_ABORTED.
 */
export function toDuplex(
  transform: (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
): Duplex {
  // The transform reads its source through byteChunks(source, signal), which rejects the pending
  // read on abort; destroying the Duplex from outside instead would wait on the parked generator.
  return Duplex.from(async function* (source: AsyncIterable<Uint8Array>) {
    if (signal?.aborted) throw new RolldeltaError(ErrorCode.ABORTED, 'the operation was aborted', { cause: signal.reason });
    yield* transform(source);
  });
}
