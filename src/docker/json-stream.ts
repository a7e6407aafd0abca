import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** One message of a Docker progress stream (load, pull, import, build). Unknown fields are kept. */
export interface JsonMessage {
  status?: string;
  stream?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  [key: string]: unknown;
}

/** Longest single message accepted; Docker's lines are a few hundred bytes, so this only stops abuse. */
export const MAX_JSON_LINE = 1 << 20;

/**
 * Incremental parser for Docker's newline-delimited JSON progress streams: push byte chunks cut
 * anywhere, get whole messages back. Blank lines and `\r\n` endings are accepted; a line that is not
 * a JSON object, or longer than `maxLine`, throws.
 * @example
 * const p = new JsonLineDecoder();
 * for await (const chunk of body) for (const m of p.push(chunk)) console.log(m.status);
 * p.end();
 */
export class JsonLineDecoder {
  private readonly text = new TextDecoder('utf-8');
  // The unfinished line, as the pieces it arrived in: joined only once its newline arrives, so a
  // long line sent in small chunks costs linear time (concatenating and searching it per chunk
  // was quadratic).
  private pending: string[] = [];
  private pendingLength = 0;
  private readonly maxLine: number;

  constructor(maxLine = MAX_JSON_LINE) {
    this.maxLine = maxLine;
  }

  /** Decodes a chunk; returns the messages it completed (often none or one). */
  push(chunk: Uint8Array): JsonMessage[] {
    const s = this.text.decode(chunk, { stream: true });
    const out: JsonMessage[] = [];
    let start = 0;
    for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', start)) {
      this.line(this.take(s.slice(start, nl)), out);
      start = nl + 1;
    }
    if (start < s.length) {
      this.pending.push(s.slice(start));
      this.pendingLength += s.length - start;
    }
    if (this.pendingLength > this.maxLine) {
      throw new RolldeltaError(ErrorCode.LIMIT, `a Docker Engine progress message is longer than ${this.maxLine} characters without a newline; the peer is not a Docker Engine or is misbehaving`);
    }
    return out;
  }

  /** Flushes the last line when the stream ended without a newline. */
  end(): JsonMessage[] {
    const out: JsonMessage[] = [];
    this.line(this.take(this.text.decode()), out);
    return out;
  }

  /** The pending pieces and `tail` as one line; empties the pending pieces. */
  private take(tail: string): string {
    if (this.pending.length === 0) return tail;
    if (this.pendingLength + tail.length > this.maxLine) {
      throw new RolldeltaError(ErrorCode.LIMIT, `a Docker Engine progress message is longer than ${this.maxLine} characters`);
    }
    this.pending.push(tail);
    const line = this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    return line;
  }

  private line(raw: string, out: JsonMessage[]): void {
    const line = raw.trim();
    if (line === '') return;
    if (line.length > this.maxLine) {
      throw new RolldeltaError(ErrorCode.LIMIT, `a Docker Engine progress message is longer than ${this.maxLine} characters`);
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine sent a progress line that is not JSON: ${JSON.stringify(line.slice(0, 80))}`, { cause: e });
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine sent a progress line that is not a JSON object: ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push(v as JsonMessage);
  }
}

/**
 * The error a progress message reports, if any. Docker signals failure inside a 200 stream with
 * `error` and/or `errorDetail.message`, so every message must be checked.
 * @example
 * const why = messageError({ errorDetail: { message: 'invalid tar header' } }); // 'invalid tar header'
 */
export function messageError(m: JsonMessage): string | undefined {
  const detail = m.errorDetail?.message;
  if (typeof detail === 'string' && detail !== '') return detail;
  if (typeof m.error === 'string' && m.error !== '') return m.error;
  if (m.errorDetail !== undefined || m.error !== undefined) return 'the engine reported an error without a message';
  return undefined;
}

/**
 * Parses a whole progress stream, calling `onMessage` for each message, and rejects with ERR_REMOTE
 * at the first message that reports an error (`what` names the operation in the message).
 * @example
 * await readJsonStream(res.body, 'docker load', (m) => { if (m.stream) log(m.stream) });
 */
export async function readJsonStream(body: AsyncIterable<Uint8Array>, what: string, onMessage?: (m: JsonMessage) => void): Promise<void> {
  const decoder = new JsonLineDecoder();
  const handle = (messages: JsonMessage[]): void => {
    for (const m of messages) {
      const err = messageError(m);
      if (err !== undefined) {
        throw new RolldeltaError(ErrorCode.REMOTE, `${what} failed in the Docker Engine: ${err.trim()}`, { cause: m });
      }
      onMessage?.(m);
    }
  };
  for await (const chunk of body) handle(decoder.push(chunk));
  handle(decoder.end());
}
