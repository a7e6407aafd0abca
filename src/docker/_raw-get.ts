import { connect, type Socket } from 'node:net';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { HttpResponseParser } from './_http-response-parser.js';

/** Bytes per socket read, into one reused buffer. */
const READ_BYTES = 64 << 10;
/** Bytes per body chunk handed on, and the ring's size (four chunks). */
const CHUNK_BYTES = 1 << 20;
const RING_BYTES = 4 * CHUNK_BYTES;

/** Where to connect: a unix socket, or a TCP host and port. */
export type RawTarget = { path: string } | { host: string; port: number };

/** An answer whose body chunks come from a ring of buffers (see {@link rawGet}). */
export interface RawAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: AsyncGenerator<Uint8Array>;
  discard(): void;
}

export interface RawGetOptions {
  /** Header lines after the request line, each without CRLF (Host first). */
  headers: string[];
  /** Names the request in errors, e.g. `docker save of app:1`. */
  what: string;
  signal?: AbortSignal;
  /** Milliseconds without a byte before ERR_TIMEOUT; 0 for none. */
  timeoutMs?: number;
  /** Turns a transport failure, or an answer cut short (ERR_TRUNCATED), into the error to throw (default: as it is). */
  mapError?: (e: unknown) => unknown;
  /**
   * Hand each piece of the body on as soon as it arrives (any size, still from the ring), for a
   * consumer done with each piece before it asks for the next, such as a download that writes,
   * reports progress and resumes where the bytes stopped. Default: whole 1 MiB chunks, each valid
   * until the second chunk after it is asked for (writeFileAtomic gathers them).
   */
  prompt?: boolean;
  /**
   * The 4 MiB to use as the ring (a ReadRing's `block()`), for memory shared with work that runs
   * before or after this request, never during it: a device update's save of the old image and
   * its apply. Default: a ring of its own.
   */
  ring?: Uint8Array;
}

/**
 * `GET path` over a plain socket, HTTP/1.1 with `Connection: close`, without Node's HTTP client:
 * the socket is read into one reused 64 KiB buffer (net's `onread`) and the body is handed on from
 * a 4 MiB ring: in 1 MiB chunks, each valid until the second chunk after it is asked for (write
 * it, as writeFileAtomic does, before asking further), or with `prompt` in pieces as they arrive,
 * each valid until the next is asked for. Node's client allocates a fresh 64 KiB buffer per read,
 * and a device saving a 256 MiB image, or downloading a 64 MiB delta, held 20-60 MiB of them
 * waiting for a collection. Reading pauses while the ring has no room for another read. Resolves once the status and headers are in; an answer cut short is ERR_TRUNCATED, a
 * stall past `timeoutMs` ERR_TIMEOUT, an abort ERR_ABORTED, malformed HTTP ERR_REMOTE.
 * @example
 * const a = await rawGet({ path: '/var/run/docker.sock' }, '/v1.41/images/get?names=app:1', { headers: ['Host: docker'], what: 'docker save' });
 * await writeFileAtomic('app.tar', a.body);
 */
export function rawGet(target: RawTarget, path: string, opts: RawGetOptions): Promise<RawAnswer> {
  const { what, signal } = opts;
  const mapError = opts.mapError ?? ((e: unknown) => e);
  if (opts.ring !== undefined && opts.ring.length !== RING_BYTES) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a ring for ${what} must be ${RING_BYTES} bytes, got ${opts.ring.length}`);
  const ring = opts.ring ?? new Uint8Array(RING_BYTES);
  /** Body bytes written into the ring, handed out, and that the consumer is done with (absolute). */
  let produced = 0;
  let yielded = 0;
  let consumed = 0;
  let paused = false;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const room = () => RING_BYTES - (produced - consumed);

  const parser = new HttpResponseParser((data) => {
    // Room for it: reading pauses while the ring has less than a read's worth free.
    const at = produced % RING_BYTES;
    const first = Math.min(data.length, RING_BYTES - at);
    ring.set(data.subarray(0, first), at);
    ring.set(data.subarray(first), 0);
    produced += data.length;
  }, what);

  const fail = (e: unknown) => {
    failure ??= mapError(e);
    socket.destroy();
    notify();
  };
  const socket: Socket = connect({
    ...target,
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
        paused = room() < READ_BYTES;
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
      failure = mapError(e);
    }
    notify();
  });
  socket.on('close', () => {
    if (!ended && failure === undefined) failure = mapError(new RolldeltaError(ErrorCode.TRUNCATED, `the answer to ${what} ended before it was complete`));
    notify();
  });
  const timeoutMs = opts.timeoutMs ?? 0;
  if (timeoutMs > 0) socket.setTimeout(timeoutMs, () => fail(new RolldeltaError(ErrorCode.TIMEOUT, `nothing arrived for ${timeoutMs} ms during ${what}`)));
  const onAbort = () => fail(new RolldeltaError(ErrorCode.ABORTED, `${what} was aborted`, { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const close = () => {
    signal?.removeEventListener('abort', onAbort);
    socket.destroy();
  };
  socket.write(`GET ${path} HTTP/1.1\r\n${[...opts.headers, 'Connection: close'].join('\r\n')}\r\n\r\n`);

  const prompt = opts.prompt === true;
  async function* body(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        // Asked for more: done with every piece handed out (prompt), or all but the last chunk.
        consumed = prompt ? yielded : Math.max(0, yielded - CHUNK_BYTES);
        if (paused && room() >= READ_BYTES && !ended && failure === undefined) {
          paused = false;
          socket.resume();
        }
        const available = produced - yielded;
        if (available >= CHUNK_BYTES || (available > 0 && (prompt || ended))) {
          const at = yielded % RING_BYTES;
          const piece = ring.subarray(at, at + Math.min(available, CHUNK_BYTES, RING_BYTES - at));
          yielded += piece.length;
          yield piece;
          continue;
        }
        // What arrived before a failure was handed out first: a download resumes after it.
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      close();
    }
  }

  return (async () => {
    while (failure === undefined && !parser.hasHead) await new Promise<void>((r) => (wake = r));
    if (failure !== undefined) {
      close();
      throw failure;
    }
    return { status: parser.status, headers: parser.headers, body: body(), discard: close };
  })();
}
