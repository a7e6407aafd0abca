// httpGet over real loopback servers: redirects, headers, bodies, errors.
import { getEventListeners } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../src/docker/_http-get.js';

const big = Buffer.from(new Uint8Array(5 * (1 << 20) + 99).map((_, i) => (i * 2654435761) >>> 24));
let a: Server;
let b: Server;
let urlA: string;
let urlB: string;
const seen: Array<{ server: string; path: string; headers: IncomingHttpHeaders }> = [];

function serve(name: string): Server {
  return createServer((req, res) => {
    seen.push({ server: name, path: req.url ?? '', headers: req.headers });
    const [path] = (req.url ?? '').split('?');
    if (path === '/same') return void res.writeHead(302, { location: '/data' }).end();
    if (path === '/away') return void res.writeHead(307, { location: `${urlB}/data` }).end();
    if (path === '/loop') return void res.writeHead(301, { location: '/loop' }).end();
    if (path === '/error') return void res.writeHead(500).end('x'.repeat(1000));
    if (path === '/big') {
      // 5 MiB in uneven writes, chunked (no Content-Length), more than the reused ring holds.
      res.writeHead(200, { 'x-served-by': name });
      for (let o = 0, k = 0; o < big.length; k++) {
        const n = [1, 300_000, 65_536, 7, 1_500_000][k % 5]!;
        res.write(big.subarray(o, o + n));
        o += n;
      }
      return void res.end();
    }
    // Headers, a few bytes, then nothing: a stalled server or network (the client's timeout ends it).
    if (path === '/stall') return void res.writeHead(Number(new URL(req.url ?? '', 'http://x').searchParams.get('status') ?? 200)).write('begun');
    if (path === '/silent') return;
    if (path === '/slow') {
      // Half the body, and the rest while the client is still busy with the first half (longer than its timeout).
      res.writeHead(200).write('hello ');
      return void setTimeout(() => res.end('world'), 100);
    }
    if (path === '/cut') {
      res.writeHead(200, { 'content-length': big.length });
      res.write(big.subarray(0, 1_234_567));
      return void setTimeout(() => res.destroy(), 20);
    }
    res.writeHead(200, { 'x-served-by': name, 'content-length': 11 }).end('hello world');
  });
}

async function listen(s: Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

async function text(body: AsyncIterable<Uint8Array>): Promise<string> {
  let s = '';
  for await (const c of body) s += Buffer.from(c).toString();
  return s;
}

beforeAll(async () => {
  a = serve('a');
  b = serve('b');
  urlA = await listen(a);
  urlB = await listen(b);
});

afterAll(async () => {
  for (const s of [a, b]) s.closeAllConnections();
  await Promise.all([a, b].map((s) => new Promise((r) => s.close(r))));
});

describe('httpGet', () => {
  it('follows a redirect with the same headers, and reads status, headers and body', async () => {
    seen.length = 0;
    const res = await httpGet(`${urlA}/same`, { headers: { range: 'bytes=3-', authorization: 'Bearer t' } });
    expect(res.status).toBe(200);
    expect(res.header('X-Served-By')).toBe('a');
    expect(res.header('nope')).toBeUndefined();
    expect(await text(res.body)).toBe('hello world');
    expect(seen.map((s) => s.path)).toEqual(['/same', '/data']);
    expect(seen[1]!.headers.range).toBe('bytes=3-');
    expect(seen[1]!.headers.authorization).toBe('Bearer t');
  });

  it('does not send Authorization to another origin it is redirected to', async () => {
    seen.length = 0;
    const res = await httpGet(`${urlA}/away`, { headers: { Authorization: 'Bearer t', range: 'bytes=0-' } });
    expect(await text(res.body)).toBe('hello world');
    expect(seen.map((s) => s.server)).toEqual(['a', 'b']);
    expect(seen[0]!.headers.authorization).toBe('Bearer t');
    expect(seen[1]!.headers.authorization).toBeUndefined();
    expect(seen[1]!.headers.range).toBe('bytes=0-');
  });

  it('stops after five redirects and answers the sixth as it is; quotes error bodies up to a limit', async () => {
    seen.length = 0;
    const res = await httpGet(`${urlA}/loop`);
    expect(res.status).toBe(301);
    res.discard();
    expect(seen).toHaveLength(6);
    const err = await httpGet(`${urlA}/error`);
    expect(err.status).toBe(500);
    expect(await err.text(100)).toBe('x'.repeat(100));
  });

  it('with reuseBuffers reads an http answer into reused buffers: the same bytes, redirects followed, bytes before a cut handed out', async () => {
    seen.length = 0;
    const res = await httpGet(`${urlA}/away`, { headers: { authorization: 'Bearer t' }, reuseBuffers: true });
    expect(res.status).toBe(200);
    expect(res.header('x-served-by')).toBe('b');
    expect(await text(res.body)).toBe('hello world');
    expect(seen[1]!.headers.authorization).toBeUndefined();
    const bigRes = await httpGet(`${urlA}/big`, { reuseBuffers: true });
    const parts: Buffer[] = [];
    for await (const piece of bigRes.body) parts.push(Buffer.from(piece)); // copied: the next piece may reuse it
    expect(Buffer.concat(parts).equals(big)).toBe(true);
    const cut = await httpGet(`${urlA}/cut`, { reuseBuffers: true });
    let got = 0;
    await expect(
      (async () => {
        for await (const piece of cut.body) got += piece.length;
      })(),
    ).rejects.toMatchObject({ code: 'ERR_TRUNCATED' });
    expect(got).toBe(1_234_567);
    const err = await httpGet(`${urlA}/error`, { reuseBuffers: true });
    expect(err.status).toBe(500);
    expect(await err.text(10)).toBe('x'.repeat(10));
  });

  describe('idleTimeoutMs', () => {
    for (const reuseBuffers of [true, false]) {
      it(`${reuseBuffers ? 'rawGet' : 'node:http'}: a server silent before its headers, or mid-body, is ERR_TIMEOUT; text() is bounded too`, async () => {
        const ac = new AbortController();
        const o = { reuseBuffers, idleTimeoutMs: 40, signal: ac.signal };
        await expect(httpGet(`${urlA}/silent`, o)).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringContaining('nothing arrived for 40 ms') });
        const res = await httpGet(`${urlA}/stall`, o);
        expect(res.status).toBe(200);
        let got = '';
        await expect(
          (async () => {
            for await (const piece of res.body) got += Buffer.from(piece).toString();
          })(),
        ).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
        expect(got).toBe('begun');
        const err = await httpGet(`${urlA}/stall?status=500`, o);
        expect(err.status).toBe(500);
        expect(await err.text()).toBe('begun');
        // Every request done with: no listener left on the caller's signal.
        expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      }, 5000);

      it(`${reuseBuffers ? 'rawGet' : 'node:http'}: time the caller spends on a piece is not counted, only waiting for the server`, async () => {
        const res = await httpGet(`${urlA}/slow`, { reuseBuffers, idleTimeoutMs: 50 });
        let got = '';
        for await (const piece of res.body) {
          got += Buffer.from(piece).toString();
          await new Promise((r) => setTimeout(r, 150)); // a slow disk
        }
        expect(got).toBe('hello world');
      }, 5000);

      it(`${reuseBuffers ? 'rawGet' : 'node:http'}: other work holding the event loop past the limit while the bytes arrived is no stall`, async () => {
        const res = await httpGet(`${urlA}/slow`, { reuseBuffers, idleTimeoutMs: 50 });
        // Another update's level 9 decode holds the loop from 20 to 320 ms; "world" arrives at 100.
        // When the loop is free again, timers run before it reads the socket.
        setTimeout(() => setImmediate(() => {
          const end = Date.now() + 300;
          while (Date.now() < end);
        }), 20);
        expect(await text(res.body)).toBe('hello world');
      }, 5000);
    }
  });

  it('rejects what it cannot reach, other schemes, and an aborted request', async () => {
    await expect(httpGet('http://127.0.0.1:9/')).rejects.toThrow(/ECONNREFUSED/);
    await expect(httpGet('ftp://127.0.0.1/')).rejects.toThrow(/unsupported URL scheme/);
    const ac = new AbortController();
    ac.abort();
    await expect(httpGet(`${urlA}/data`, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
