import { ChunkBuffer, byteChunks, type ByteSource } from './chunks.js';
import { ProgressMeter, type StreamOptions } from './progress.js';

/** An incremental delta producer (RsyncDelta, DiffDelta): target chunks in, encoded bytes to `ondata`. */
export interface Producer {
  push(chunk: Uint8Array): void;
  finish(): void;
  /** Resolves once at most `maxPending` frames are still being packed in the background. */
  settled?(maxPending: number): Promise<void>;
}

/** Frames a producer may have in the thread pool while it goes on matching. */
export const MAX_PACKING = 4;

/**
 * Drives a producer over a byte source and yields what it writes as soon as each input chunk is
 * consumed, with progress and abort handled once for every delta kind.
 */
export async function* producerChunks(
  make: (ondata: (chunk: Uint8Array) => void) => Producer,
  source: ByteSource,
  opts: StreamOptions,
): AsyncGenerator<Uint8Array> {
  const out = new ChunkBuffer();
  const producer = make(out.push);
  const meter = new ProgressMeter(opts);
  for await (const chunk of byteChunks(source, opts.signal)) {
    producer.push(chunk);
    meter.input(chunk.length);
    await producer.settled?.(MAX_PACKING);
    for (const c of out.take()) {
      meter.output(c.length);
      yield c;
    }
  }
  producer.finish();
  await producer.settled?.(0);
  for (const c of out.take()) {
    meter.output(c.length);
    yield c;
  }
  meter.report();
}
