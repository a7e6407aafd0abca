import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** Most bytes of status line and headers, and of one chunk-size or trailer line. */
const MAX_HEAD = 64 << 10;
const MAX_LINE = 4096;
/** Head and chunk lines are ASCII; latin1 maps any stray byte to one character. */
const LATIN1 = new TextDecoder('latin1');

type Mode = 'head' | 'length' | 'close' | 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/**
 * An HTTP/1.1 response parsed as its bytes arrive, in pieces of any size: the status and headers,
 * then the body (Content-Length, chunked, or up to the connection's end) handed to `onBody` as
 * views of the pushed bytes, valid during the call. For reading a response off a socket whose
 * reads go into one reused buffer, which Node's HTTP client cannot do. Anything malformed is
 * ERR_REMOTE; `end()` says whether the body was whole when the connection closed.
 * @example
 * const p = new HttpResponseParser((body) => file.write(body));
 * socket.on('data', (d) => p.push(d)); socket.on('end', () => p.end());
 */
export class HttpResponseParser {
  status = 0;
  readonly headers = new Map<string, string>();
  private mode: Mode = 'head';
  private head = new Uint8Array(0);
  private line = '';
  private remaining = 0;

  constructor(
    private readonly onBody: (data: Uint8Array) => void,
    private readonly what: string,
  ) {}

  /** Whether the whole response has arrived. */
  get done(): boolean {
    return this.mode === 'done';
  }

  /** Whether the status and headers have arrived. */
  get hasHead(): boolean {
    return this.mode !== 'head';
  }

  push(data: Uint8Array): void {
    let i = 0;
    while (i < data.length && this.mode !== 'done') {
      switch (this.mode) {
        case 'head':
          i = this.readHead(data);
          break;
        case 'length':
        case 'data': {
          const n = Math.min(this.remaining, data.length - i);
          this.onBody(data.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.mode = this.mode === 'length' ? 'done' : 'data-end';
          break;
        }
        case 'close':
          this.onBody(data.subarray(i));
          i = data.length;
          break;
        default:
          i = this.readLine(data, i);
      }
    }
    if (i < data.length) throw this.malformed('bytes after the end of the answer');
  }

  /** The connection ended: a body that was not whole is ERR_TRUNCATED. */
  end(): void {
    if (this.mode === 'close') this.mode = 'done';
    if (this.mode !== 'done') throw new RolldeltaError(ErrorCode.TRUNCATED, `the answer to ${this.what} ended before it was complete`);
  }

  /** Takes head bytes; at the blank line, the headers are read and the rest of `data` is body. */
  private readHead(data: Uint8Array): number {
    const before = this.head.length;
    const joined = new Uint8Array(before + data.length);
    joined.set(this.head);
    joined.set(data, before);
    // The blank line may straddle two pushes: search from a little before the new bytes.
    let end = -1;
    for (let k = Math.max(0, before - 3); k + 3 < joined.length; k++) {
      if (joined[k] === 13 && joined[k + 1] === 10 && joined[k + 2] === 13 && joined[k + 3] === 10) {
        end = k;
        break;
      }
    }
    if (end < 0) {
      if (joined.length > MAX_HEAD) throw new RolldeltaError(ErrorCode.LIMIT, `the answer to ${this.what} has more than ${MAX_HEAD} bytes of headers`);
      this.head = joined;
      return data.length;
    }
    this.parseHead(LATIN1.decode(joined.subarray(0, end)));
    this.head = new Uint8Array(0);
    return end + 4 - before;
  }

  private parseHead(text: string): void {
    const [statusLine, ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine!);
    if (!m) throw this.malformed(`a status line ${JSON.stringify(statusLine!.slice(0, 60))}`);
    this.status = Number(m[1]);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw this.malformed(`a header line ${JSON.stringify(line.slice(0, 60))}`);
      this.headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = this.headers.get('content-length');
    if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      this.mode = 'done';
    } else if (/\bchunked\b/i.test(this.headers.get('transfer-encoding') ?? '')) {
      this.mode = 'size';
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) throw this.malformed(`Content-Length ${JSON.stringify(length.slice(0, 30))}`);
      this.remaining = Number(length);
      this.mode = this.remaining === 0 ? 'done' : 'length';
    } else {
      this.mode = 'close';
    }
  }

  /** Reads a chunk-size, chunk-end or trailer line (up to its LF) and acts on it once whole. */
  private readLine(data: Uint8Array, i: number): number {
    let k = i;
    while (k < data.length && data[k] !== 10) k++;
    const piece = LATIN1.decode(data.subarray(i, k));
    if (this.line.length + piece.length > MAX_LINE) throw this.malformed('a chunk line longer than 4096 bytes');
    this.line += piece;
    if (k === data.length) return k;
    const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    this.line = '';
    if (this.mode === 'data-end') {
      if (line !== '') throw this.malformed('a chunk not followed by CRLF');
      this.mode = 'size';
    } else if (this.mode === 'size') {
      const hex = line.split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw this.malformed(`a chunk size ${JSON.stringify(hex.slice(0, 20))}`);
      this.remaining = parseInt(hex, 16);
      this.mode = this.remaining === 0 ? 'trailer' : 'data';
    } else if (line === '') {
      this.mode = 'done'; // the blank line after the trailers
    }
    return k + 1;
  }

  private malformed(what: string): RolldeltaError {
    return new RolldeltaError(ErrorCode.REMOTE, `the answer to ${this.what} is not well-formed HTTP: ${what}`);
  }
}
