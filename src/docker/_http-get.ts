import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { IdleTimeout } from './_idle-timeout.js';
import { rawGet, type RawAnswer } from './_raw-get.js';

/** An answer to {@link httpGet}: read the body to its end, or discard() it, to free the connection. */
export interface GetResponse {
  status: number;
  /** A response header, or undefined. */
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  discard(): void;
  /** The start of the body as text (an error answer's reason), at most `max` bytes. */
  text(max?: number): Promise<string>;
}

export interface GetOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Read an http: answer into reused buffers (rawGet): each piece of its body is valid only until
   * the next one is asked for, so write or copy it before going on. For large downloads on a
   * device: Node's client allocates a fresh buffer per read, and a 64 MiB delta download peaked at
   * 134 MiB. https: answers are read by node:https either way.
   */
  reuseBuffers?: boolean;
  /** With `reuseBuffers`: the 4 MiB to read through (a ReadRing's `block()`), shared with work before or after (see rawGet). */
  ring?: Uint8Array;
  /**
   * Longest time without a byte from the server while it is waited for (connecting, the headers,
   * each piece of the body; not the time the caller spends on a piece) before the request is
   * aborted with ERR_TIMEOUT; default none. Also bounds `text()`.
   */
  idleTimeoutMs?: number;
  /** HEAD instead of GET: the answer's status and headers alone. Not with `reuseBuffers`. */
  head?: boolean;
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * GET (or HEAD: `head`) over node:http or node:https (with `reuseBuffers`, an http: answer over a plain socket read
 * into reused buffers: rawGet), following up to five redirects (Authorization is not sent to
 * another origin), resolving once the answer's headers arrive. Used instead of fetch for the
 * device's and the server's downloads: reading a fetch body detaches ArrayBuffers, and once one is
 * detached V8 checks every typed-array access in the thread for it (context mixing decoded 15-18%
 * slower after one fetch, measured), while the device goes on to apply what it downloaded.
 * Transport failures reject with Node's error (an aborted `signal`: its AbortError), a stall past
 * `idleTimeoutMs` with ERR_TIMEOUT.
 * @example
 * const res = await httpGet('http://deltas:8080/delta?from=a:1&to=a:2', { headers: { range: 'bytes=100-' } });
 * for await (const chunk of res.body) file.write(chunk);
 */
export async function httpGet(url: string, opts: GetOptions = {}): Promise<GetResponse> {
  const ms = opts.idleTimeoutMs ?? 0;
  if (!(ms > 0)) return follow(url, opts, opts.signal);
  const idle = new IdleTimeout(ms, `${opts.head ? 'HEAD' : 'GET'} ${url}`, opts.signal);
  let res: GetResponse;
  try {
    res = await follow(url, opts, idle.signal, idle);
  } catch (e) {
    idle.stop();
    throw idle.explain(e);
  }
  idle.pause();
  return watched(res, idle);
}

/** GETs `url` following redirects; each hop's headers count as news from the server for `idle`. */
async function follow(url: string, opts: GetOptions, signal: AbortSignal | undefined, idle?: IdleTimeout): Promise<GetResponse> {
  let target = new URL(url);
  const headers = { ...opts.headers };
  for (let hop = 0; ; hop++) {
    idle?.restart();
    const res = opts.reuseBuffers && !opts.head && target.protocol === 'http:' ? rawAnswer(await sendRaw(target, headers, signal, opts.ring)) : answer(await send(target, headers, signal, opts.head ? 'HEAD' : 'GET'));
    const location = res.header('location');
    if (!REDIRECT.has(res.status) || location === undefined || hop === MAX_REDIRECTS) return res;
    res.discard();
    const next = new URL(location, target);
    if (next.origin !== target.origin) {
      for (const name of Object.keys(headers)) if (name.toLowerCase() === 'authorization') delete headers[name];
    }
    target = next;
  }
}

/** `res` with its body, and text(), read under `idle`'s count, which stops when the body is done with. */
function watched(res: GetResponse, idle: IdleTimeout): GetResponse {
  const body = watchedBody(res.body, idle);
  const discard = () => {
    idle.stop();
    res.discard();
  };
  return { status: res.status, header: res.header, body, discard, text: (max) => textOf(body, discard, max) };
}

/** The pieces of `body`, the count running only while the next one is awaited. */
async function* watchedBody(body: AsyncIterable<Uint8Array>, idle: IdleTimeout): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      idle.restart();
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        throw idle.explain(e);
      } finally {
        idle.pause();
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    idle.stop();
    await it.return?.()?.catch(() => {});
  }
}

function send(target: URL, headers: Record<string, string>, signal: AbortSignal | undefined, method: 'GET' | 'HEAD'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new Error(`unsupported URL scheme ${target.protocol} in ${target.href}`));
      return;
    }
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(target, { method, headers, signal }, resolve);
    req.on('error', reject);
    req.end();
  });
}

function sendRaw(target: URL, headers: Record<string, string>, signal: AbortSignal | undefined, ring: Uint8Array | undefined): Promise<RawAnswer> {
  const lines = [`Host: ${target.host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n:]/.test(name) || /[\r\n]/.test(value)) return Promise.reject(new Error(`the header ${JSON.stringify(name)} cannot be sent: it holds a line break or colon`));
    lines.push(`${name}: ${value}`);
  }
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without brackets
  return rawGet({ host, port: Number(target.port || 80) }, `${target.pathname}${target.search}`, { headers: lines, what: `GET ${target.href}`, signal, prompt: true, ring });
}

function rawAnswer(a: RawAnswer): GetResponse {
  return {
    status: a.status,
    header: (name) => a.headers.get(name.toLowerCase()),
    body: a.body,
    discard: a.discard,
    text: (max) => textOf(a.body, a.discard, max),
  };
}

function answer(res: IncomingMessage): GetResponse {
  return {
    status: res.statusCode ?? 0,
    header: (name) => {
      const v = res.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : v;
    },
    body: res,
    discard: () => res.destroy(),
    text: (max) => textOf(res, () => res.destroy(), max),
  };
}

/** The start of a body as text, each chunk copied (it may be a reused buffer). */
async function textOf(body: AsyncIterable<Uint8Array>, discard: () => void, max = 64 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      parts.push(Buffer.from(c.subarray(0, max - n)));
      n += Math.min(c.length, max - n);
      if (n >= max) break;
    }
  } catch {
    // What arrived is reason enough.
  } finally {
    discard();
  }
  return Buffer.concat(parts).toString('utf8');
}
