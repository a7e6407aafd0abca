import { connect, type Socket } from 'node:net';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { statusError, transportError, type HttpTarget } from './_http.js';
import { HttpResponseParser } from './_http-response-parser.js';

/** Bytes per socket read, into one reused buffer. */
const READ_BYTES = 64 << 10;
/** Bytes per chunk handed on, and chunks in the ring. */
const CHUNK_BYTES = 1 << 20;
const RING = 4;
/** Most bytes of an error answer kept to quote its message. */
const MAX_ERROR_BODY = 64 << 10;

/**
 * `GET path` over the engine's unix socket, its body yielded in 1 MiB chunks (the last one shorter)
 * cut from a ring of four buffers, each valid until the second chunk after it is asked for (what
 * writeFileAtomic needs). The socket is read into one reused 64 KiB buffer (net's `onread`) and
 * the response parsed here: Node's HTTP client allocates a fresh 64 KiB buffer per read, and the
 * save of a 256 MiB old image on the device left 20-35 MiB of them waiting for a collection.
 * Reading pauses while the consumer is two chunks behind. A 4xx/5xx answer is ERR_REMOTE with the
 * engine's message; transport failures ERR_IO, a stall past `timeoutMs` ERR_TIMEOUT, an abort
 * ERR_ABORTED, an answer cut short ERR_TRUNCATED.
 * @example
 * await writeFileAtomic('old.tar', socketGetChunks(target, '/v1.41/images/get?names=app:1', 'docker save', signal));
 */
export async function* socketGetChunks(target: HttpTarget, path: string, what: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const ring = Array.from({ length: RING }, () => new Uint8Array(CHUNK_BYTES));
  /** The chunk being filled, and its bytes so far. */
  let filling = 0;
  let fill = 0;
  /** The chunk the consumer is asking for: it is done with every chunk two or more before it. */
  let asked = 0;
  let paused = false;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const errorBody: Uint8Array[] = [];
  let errorBytes = 0;
  const notify = () => {
    wake?.();
    wake = undefined;
  };

  const parser = new HttpResponseParser((data) => {
    if (parser.status >= 300) {
      if (errorBytes < MAX_ERROR_BODY) errorBody.push(data.slice(0, MAX_ERROR_BODY - errorBytes));
      errorBytes += data.length;
      return;
    }
    for (let o = 0; o < data.length; ) {
      const n = Math.min(CHUNK_BYTES - fill, data.length - o);
      ring[filling % RING]!.set(data.subarray(o, o + n), fill);
      fill += n;
      o += n;
      if (fill === CHUNK_BYTES) {
        filling++;
        fill = 0;
      }
    }
  }, what);

  const fail = (e: unknown) => {
    failure ??= transportError(e, target.socketPath, 'GET', path, signal);
    socket.destroy();
    notify();
  };
  const socket: Socket = connect({
    path: target.socketPath,
    onread: {
      buffer: new Uint8Array(READ_BYTES),
      callback: (n: number, buf: Uint8Array) => {
        if (failure !== undefined || ended) return false;
        try {
          parser.push(buf.subarray(0, n));
        } catch (e) {
          fail(e);
          return false;
        }
        if (parser.done) {
          ended = true;
          socket.destroy();
        }
        notify();
        // The slot of chunk asked + 2 held chunk asked - 2, which the consumer is done with; the
        // next one's is not free yet: stop reading once that chunk is begun.
        paused = filling >= asked + 2;
        return !paused;
      },
    },
  });
  socket.on('error', fail);
  socket.on('end', () => {
    if (ended || failure !== undefined) return;
    try {
      parser.end();
      ended = true;
    } catch (e) {
      failure = e;
    }
    notify();
  });
  socket.on('close', () => {
    if (!ended && failure === undefined) failure = new RolldeltaError(ErrorCode.TRUNCATED, `the Docker Engine's answer to ${what} ended before it was complete`);
    notify();
  });
  if (target.timeoutMs > 0) {
    socket.setTimeout(target.timeoutMs, () =>
      fail(new RolldeltaError(ErrorCode.TIMEOUT, `the Docker Engine at ${target.socketPath} sent nothing for ${target.timeoutMs} ms during ${what}; raise timeoutMs if the engine is just slow`)),
    );
  }
  const onAbort = () => fail(new RolldeltaError(ErrorCode.ABORTED, `${what} was aborted`, { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`);

  try {
    for (;;) {
      if (paused && filling < asked + 2 && !ended && failure === undefined) {
        paused = false;
        socket.resume();
      }
      while (failure === undefined && !ended && filling <= asked) await new Promise<void>((r) => (wake = r));
      if (failure !== undefined) throw failure;
      if (parser.status >= 300) {
        if (!ended) continue; // the error answer is read whole first
        throw await statusError({ status: parser.status, headers: {}, body: (async function* () { yield* errorBody; })(), discard: () => {} }, what);
      }
      if (filling > asked) {
        yield ring[asked % RING]!;
        asked++;
        continue;
      }
      // Ended: the last, short chunk.
      if (fill > 0) yield ring[filling % RING]!.subarray(0, fill);
      return;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    socket.destroy();
  }
}
