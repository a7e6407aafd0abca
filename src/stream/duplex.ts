import { Duplex } from 'node:stream';
import { throwIfAborted } from './abort.js';
import { byteChunks } from './chunks.js';

/**
 * Wraps a chunk transformer (an async generator over the written chunks) as a Node Duplex:
 * the generator is pulled only as fast as the reader reads, so backpressure holds even when one
 * small input chunk expands into gigabytes (a long COPY). An AbortSignal fails the stream with
 * ERR_ABORTED; `destroy()` (pipeline's own `signal`, a watchdog) closes it at once too.
 */
export function toDuplex(
  transform: (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
): Duplex {
  // Duplex.from's destroy waits for the generator to return, and a generator parked on its next
  // input never does once nothing writes: a destroyed stream never closed and pipeline() with a
  // signal never settled. So destroy first ends that wait (byteChunks rejects the pending read).
  const destroyed = new AbortController();
  const d = Duplex.from(async function* (source: AsyncIterable<Uint8Array>) {
    throwIfAborted(signal);
    yield* transform(byteChunks(source, destroyed.signal));
  });
  const destroy = d._destroy.bind(d);
  d._destroy = (err, cb) => {
    destroyed.abort(err);
    destroy(err, cb);
  };
  return d;
}
