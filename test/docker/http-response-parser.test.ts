// The HTTP/1.1 response parser behind saveImagesToFile: any framing, any cutting of the bytes,
// the same body; anything malformed a RolldeltaError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { HttpResponseParser } from '../../src/docker/_http-response-parser.js';

const enc = new TextEncoder();

/** Runs `bytes` through a parser in pieces cut at `cuts`; returns the body, or the error thrown. */
function parse(bytes: Uint8Array, cuts: number[], end = true): { body: Uint8Array; parser: HttpResponseParser } {
  const parts: Uint8Array[] = [];
  const p = new HttpResponseParser((d) => parts.push(d.slice()), 'a test');
  let at = 0;
  for (const c of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b).concat(bytes.length)) {
    p.push(bytes.subarray(at, c));
    at = c;
  }
  if (end) p.end();
  const body = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) {
    body.set(x, o);
    o += x.length;
  }
  return { body, parser: p };
}

function framed(body: Uint8Array, mode: 'chunked' | 'length' | 'close', sizes: number[]): Uint8Array {
  const head = `HTTP/1.1 200 OK\r\nServer: t\r\n${mode === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : mode === 'length' ? `Content-Length: ${body.length}\r\n` : ''}\r\n`;
  if (mode !== 'chunked') return new Uint8Array([...enc.encode(head), ...body]);
  const out: number[] = [...enc.encode(head)];
  for (let o = 0, k = 0; o < body.length; k++) {
    const n = Math.min(body.length - o, Math.max(1, sizes[k % sizes.length] ?? 1));
    out.push(...enc.encode(`${n.toString(16)}${k % 2 ? ';a=b' : ''}\r\n`), ...body.subarray(o, o + n), 13, 10);
    o += n;
  }
  out.push(...enc.encode('0\r\nTrailer-X: y\r\n\r\n'));
  return new Uint8Array(out);
}

describe('HttpResponseParser', () => {
  it('gives the same body for any framing and any cutting of the bytes (law)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.constantFrom('chunked' as const, 'length' as const, 'close' as const),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat({ max: 4000 }), { maxLength: 12 }),
        (body, mode, sizes, cuts) => {
          const { body: got, parser } = parse(framed(body, mode, sizes), cuts);
          expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
          expect(parser.status).toBe(200);
          expect(parser.headers.get('server')).toBe('t');
          expect(parser.done).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('says when the answer was cut short, and refuses what is not HTTP', () => {
    const whole = framed(enc.encode('x'.repeat(5000)), 'chunked', [999]);
    expect(() => parse(whole.subarray(0, whole.length - 3), [])).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    const length = framed(enc.encode('abc'), 'length', []);
    expect(() => parse(length.subarray(0, length.length - 1), [])).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    const bad = (s: string) => () => parse(enc.encode(s), []);
    expect(bad('SSH-2.0-OpenSSH\r\n\r\n')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad('HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab')).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    expect(bad(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)).toThrow(expect.objectContaining({ code: 'ERR_LIMIT' }));
    expect(bad(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(5000)}`)).toThrow(expect.objectContaining({ code: 'ERR_REMOTE' }));
    // A huge chunk size is only a count: nothing is allocated for it, and the body is cut short.
    expect(bad('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\nab')).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    const empty = parse(enc.encode('HTTP/1.1 204 No Content\r\n\r\n'), []);
    expect(empty.body.length).toBe(0);
  });

  it('answers hostile bytes with a RolldeltaError or a parse, never anything else', () => {
    const seed = framed(enc.encode('hello world '.repeat(50)), 'chunked', [7, 300]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: seed.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat({ max: seed.length }),
        fc.array(fc.nat({ max: seed.length }), { maxLength: 5 }),
        (flips, cut, cuts) => {
          const bytes = seed.slice(0, cut);
          for (const [at, v] of flips) if (at < bytes.length) bytes[at] = v;
          try {
            parse(bytes, cuts);
          } catch (e) {
            expect(isRolldeltaError(e)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
