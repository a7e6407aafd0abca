import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { isBytes } from '../core/bytes.js';
import { operationAborted, settledUnlessAborted } from './abort.js';

/** Anything that yields byte chunks: a Node Readable, a web ReadableStream's iterator, a generator. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Iterates a byte source, refusing non-byte chunks (a stream in string mode) with a clear error.
 * An abort ends the wait for the next chunk at once: a generator parked on a stalled source could
 * otherwise never notice it, and a stream being destroyed would wait for it forever.
 */
export async function* byteChunks(source: ByteSource, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const it = (Symbol.asyncIterator in source ? (source as AsyncIterable<unknown>)[Symbol.asyncIterator]() : (source as Iterable<unknown>)[Symbol.iterator]()) as AsyncIterator<unknown> | Iterator<unknown>;
  try {
    for (;;) {
      const next = signal ? await settledUnlessAborted(Promise.resolve(it.next()), signal, operationAborted) : await it.next();
      if (next.done) return;
      const chunk = next.value;
      if (!isBytes(chunk)) {
        throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `expected byte chunks, got ${typeof chunk}; do not set an encoding on the input stream`);
      }
      yield chunk;
    }
  } finally {
    // A source that fails as it closes has no one to tell: its rejection must not go unhandled,
    // which ends a Node process.
    try {
      Promise.resolve(it.return?.()).catch(() => {});
    } catch {
      // A sync source's return() threw: the same.
    }
  }
}

/** Gathers the chunks an ondata-style encoder emits during one synchronous call. */
export class ChunkBuffer {
  private parts: Uint8Array[] = [];
  readonly push = (c: Uint8Array): void => {
    this.parts.push(c);
  };
  take(): Uint8Array[] {
    const out = this.parts;
    this.parts = [];
    return out;
  }
}
