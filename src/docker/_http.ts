import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { EngineUnreachableError } from './engine-unreachable.js';

/** A request body: whole bytes/text, or a byte stream piped with backpressure. */
export type RequestBody = Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

/** Where and how patiently to talk to the engine. */
export interface HttpTarget {
  socketPath: string;
  /** Milliseconds of socket inactivity before the request fails with ERR_TIMEOUT; 0 disables. */
  timeoutMs: number;
}

export interface HttpRequestOptions {
  headers?: Record<string, string>;
  body?: RequestBody;
  signal?: AbortSignal;
}

/**
 * An engine answer: status, headers and a body whose iteration throws only RolldeltaError.
 * The body must be consumed (or `discard()`ed) to free the connection.
 */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: AsyncIterable<Uint8Array>;
  discard(): void;
}

/** Largest error body we read to quote the engine's message; a 4xx/5xx body is never a stream we need. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Sends one HTTP request over the engine's unix socket. Resolves once response headers arrive; the
 * request body keeps streaming (with backpressure) until sent. Transport failures become ERR_IO,
 * inactivity ERR_TIMEOUT, an aborted signal ERR_ABORTED; HTTP statuses are left to the caller.
 * @example
 * const res = await httpSend({ socketPath: '/var/run/docker.sock', timeoutMs: 30_000 }, 'GET', '/_ping');
 * res.discard();
 */
export function httpSend(target: HttpTarget, method: string, path: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const { socketPath, timeoutMs } = target;
  // First failure wins: a timeout or upload error must not be reported as the "socket hang up" it causes.
  let failure: RolldeltaError | undefined;
  const fail = (e: unknown): RolldeltaError => {
    if (failure === undefined) failure = transportError(e, socketPath, method, path, opts.signal);
    return failure;
  };

  return new Promise<HttpResponse>((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    const body = opts.body;
    const whole = typeof body === 'string' ? Buffer.from(body) : body instanceof Uint8Array ? body : undefined;
    if (whole !== undefined) headers['Content-Length'] = String(whole.length);
    else if (body === undefined && method !== 'GET' && method !== 'HEAD') headers['Content-Length'] = '0';

    let req: ReturnType<typeof httpRequest>;
    let response: IncomingMessage | undefined;
    try {
      req = httpRequest({ socketPath, method, path, headers, signal: opts.signal, host: 'docker' });
    } catch (e) {
      reject(fail(e));
      return;
    }
    if (timeoutMs > 0) {
      req.setTimeout(timeoutMs, () => {
        const err = fail(new RolldeltaError(ErrorCode.TIMEOUT, `the Docker Engine at ${socketPath} sent nothing for ${timeoutMs} ms during ${method} ${path}; raise timeoutMs if the engine is just slow`));
        req.destroy(err);
        response?.destroy(err);
      });
    }
    req.on('error', (e) => {
      const err = fail(e);
      if (response) response.destroy(err);
      else reject(err);
    });
    req.on('response', (res) => {
      response = res;
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: mappedBody(res, fail),
        discard: () => {
          res.resume();
        },
      });
    });

    if (whole !== undefined) req.end(whole);
    else if (body === undefined) req.end();
    else {
      let sourceFailed = false;
      // Each chunk is written, and the write has completed (Node holds no reference to it), before
      // the next is asked for: a source may reuse its buffers (applyImageDelta's reuseChunks).
      const send = async (): Promise<void> => {
        const it = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
        let done = false;
        try {
          for (;;) {
            let next: IteratorResult<Uint8Array>;
            try {
              next = await it.next();
            } catch (e) {
              sourceFailed = done = true;
              throw e;
            }
            if (next.done) break;
            await new Promise<void>((resolve, reject) => req.write(next.value, (e) => (e ? reject(e) : resolve())));
          }
          done = true;
          req.end();
        } finally {
          // A request that failed mid-way closes its source (its files), as a pipeline would.
          if (!done) await it.return?.().catch(() => {});
        }
      };
      send().catch((e: unknown) => {
        if (sourceFailed) {
          // The caller's input broke: that, not the torn connection, is the error to report.
          const err = fail(isRolldeltaError(e) || (e as Error)?.name === 'AbortError' ? e : new RolldeltaError(ErrorCode.IO, `reading the data to send with ${method} ${path} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }));
          req.destroy(err);
          response?.destroy(err);
        } else if (!response) {
          req.destroy(fail(e));
        }
        // Otherwise the engine stopped reading early and its answer (read by the caller) says why.
      });
    }
  });
}

async function* mappedBody(res: IncomingMessage, fail: (e: unknown) => RolldeltaError): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of res) yield chunk as Uint8Array;
  } catch (e) {
    throw fail(e);
  }
  // A response cut short by the engine (or its socket) ends without an error event in some Node versions.
  // ECONNRESET: the engine went away mid-answer (stopped, restarted), as a reset would say.
  if (!res.complete) throw fail(Object.assign(new Error('the connection closed before the response was complete'), { code: 'ECONNRESET' }));
}

/**
 * Reads a whole (small) response body as text, capped so a hostile peer cannot exhaust memory.
 * @example
 * const text = await readText(await httpSend(target, 'GET', '/_ping')); // 'OK'
 */
export async function readText(res: HttpResponse, max = MAX_ERROR_BODY): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body) {
    // Copied: a body read through reused buffers (rawGet) overwrites its chunks.
    if (n < max) parts.push(Buffer.from(chunk.subarray(0, Math.min(chunk.length, max - n))));
    n += chunk.length;
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Reads a JSON response body (inspect, create) with a generous cap.
 * @example
 * const v = await readJson(await httpSend(target, 'GET', '/v1.41/version'), 'GET /version');
 */
export async function readJson(res: HttpResponse, what: string, max = 16 << 20): Promise<unknown> {
  const text = await readText(res, max + 1);
  if (text.length > max) throw new RolldeltaError(ErrorCode.LIMIT, `the Docker Engine's answer to ${what} is larger than ${max} bytes`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine answered ${what} with something that is not JSON: ${JSON.stringify(text.slice(0, 80))}`, { cause: e });
  }
}

/**
 * Turns a 4xx/5xx answer into ERR_REMOTE quoting the engine's `{"message": ...}`; `cause` carries
 * `{ status, message }` so callers can tell a 404 from a 500.
 * @example
 * if (res.status >= 400) throw await statusError(res, 'docker rmi app:1');
 */
export async function statusError(res: HttpResponse, what: string): Promise<RolldeltaError> {
  let text = '';
  try {
    text = await readText(res);
  } catch {
    // The status alone still says what happened.
  }
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string') message = parsed.message;
  } catch {
    // Not JSON (a proxy, a very old engine): quote the text as it is.
  }
  return new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine refused ${what} (HTTP ${res.status}): ${message || 'no message'}`, {
    cause: { status: res.status, message },
  });
}

export function transportError(e: unknown, socketPath: string, method: string, path: string, signal: AbortSignal | undefined): RolldeltaError {
  if (isRolldeltaError(e)) return e;
  if (signal?.aborted || (e as Error)?.name === 'AbortError') {
    return new RolldeltaError(ErrorCode.ABORTED, `${method} ${path} to the Docker Engine was aborted`, { cause: signal?.reason ?? e });
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ENOTSOCK') {
    const why = code === 'ENOENT' ? 'no such socket' : code === 'ECONNREFUSED' ? 'connection refused' : code === 'EACCES' ? 'permission denied (join the docker group or run as root)' : 'not a socket';
    return ioError(`cannot reach the Docker Engine at ${socketPath}: ${why}; start dockerd or set DOCKER_HOST=unix:///path/to/docker.sock`, code, socketPath, e);
  }
  const msg = (e as Error)?.message ?? String(e);
  return ioError(`the connection to the Docker Engine at ${socketPath} failed during ${method} ${path}: ${msg}`, code, socketPath, e);
}

/**
 * Socket errors that say the engine is not there, yet or any more: its socket's file is missing
 * (stopped cleanly), no one listens on it (killed), or the connection broke (gone mid-request).
 */
const GONE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ENOTCONN']);

/**
 * ERR_IO for a transport failure: an EngineUnreachableError when its errno code is one of
 * GONE_CODES, which waiting for the engine may cure; a plain one otherwise (permission denied,
 * not a socket), which it will not.
 */
function ioError(message: string, code: unknown, socketPath: string, cause: unknown): RolldeltaError {
  return typeof code === 'string' && GONE_CODES.has(code) ? new EngineUnreachableError(ErrorCode.IO, message, socketPath, cause) : new RolldeltaError(ErrorCode.IO, message, { cause });
}
