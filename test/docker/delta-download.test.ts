import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { downloadDelta } from '../../src/docker/delta-download.js';
import type { DockerEngine } from '../../src/docker/engine.js';
import type { FallbackPullError } from '../../src/docker/fallback-pull-error.js';
import { updateImage } from '../../src/docker/update-image.js';
import { DamagedRangeError, FrameScanner } from '../../src/format/frame-scanner.js';
import { ReadRing } from '../../src/image/read-ring.js';
import { diff } from '../../src/format/operations.js';
import { nodeRawDeflate } from '../../src/stream/node-raw-deflate.js';
import { prng } from '../core/_diff-helpers.js';

// A delta of many small frames: random new content, 4 KiB frames.
const basis = prng(64 << 10, 1);
const target = prng(256 << 10, 2);
const delta = diff(basis, target, { level: 1, frameSize: 4096 });
const sha = createHash('sha256').update(delta).digest('hex');

let dir = '';
beforeAll(() => void (dir = mkdtempSync(join(tmpdir(), 'rolldelta-dl-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A test delta server: the requests' start offsets and times, the bytes it sent, and a stall switch. */
interface TestServer {
  url: string;
  starts: number[];
  times: number[];
  served: () => number;
  server: Server;
  /** While set, an answer sends the delta only up to this byte, then stalls until the client goes. */
  stallAt?: number;
}

/** Serves `delta` with Range support; `corrupt(n)` says whether answer n flips a bit at `at`. */
async function serve(at: number, corrupt: (n: number) => boolean): Promise<TestServer> {
  const starts: number[] = [];
  const times: number[] = [];
  let served = 0;
  const control: { stallAt?: number } = {};
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    const n = starts.length;
    starts.push(from);
    times.push(Date.now());
    const body = Buffer.from(delta.subarray(from));
    if (corrupt(n) && at >= from) body[at - from] ^= 0x10;
    res.writeHead(m ? 206 : 200, { 'content-length': body.length, 'x-delta-sha256': sha });
    const stall = control.stallAt;
    if (stall !== undefined && stall > from) {
      // A connection that stops mid-way: the client's abort, not the end of the body, ends it.
      served += stall - from;
      res.write(body.subarray(0, stall - from));
      return;
    }
    served += body.length;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`;
  return Object.assign(control, { url, starts, times, served: () => served, server });
}

const opts = { requestTimeoutMs: 10_000, maxBackoffMs: 100, retries: 3, retryIntervalMs: 10 };

/** The start of the frame holding byte `at`, by scanning the delta's frames. */
function frameStartOf(at: number): number {
  const scan = new FrameScanner();
  let start = 0;
  for (let i = 0; i < delta.length; i += 1) {
    scan.push(delta.subarray(i, i + 1));
    if (scan.verified > at) return start;
    start = scan.verified;
  }
  return start;
}

describe('per-frame refetch', () => {
  it('a bit flipped in transit is caught at its frame and only that frame onwards is fetched again', async () => {
    const at = Math.floor(delta.length * 0.6);
    const s = await serve(at, (n) => n === 0);
    try {
      const path = join(dir, 'a.rdelta');
      const messages: string[] = [];
      await downloadDelta(s.url, path, { ...opts, onProgress: (e) => void (e.message && messages.push(e.message)) });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(s.starts).toEqual([0, frameStartOf(at)]);
      expect(s.starts[1]).toBeGreaterThan(0);
      expect(s.served()).toBeLessThan(delta.length * 1.5);
      expect(messages.some((m) => m.includes('fetch it again'))).toBe(true);
      expect(existsSync(`${path}.part`)).toBe(false);
    } finally {
      s.server.close();
    }
  });

  it('through a ring given for it, request after request, the same delta (the ring holds the last answer)', async () => {
    const at = Math.floor(delta.length * 0.3);
    const s = await serve(at, (n) => n === 0);
    try {
      const path = join(dir, 'ring.rdelta');
      const ring = new ReadRing(1 << 20);
      await downloadDelta(s.url, path, { ...opts, ring });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(s.starts).toEqual([0, frameStartOf(at)]);
      const last = delta.subarray(s.starts[1]);
      expect(Buffer.compare(ring.block().subarray(0, last.length), last)).toBe(0);
      // A ring of another size is a caller's mistake: refused at once, not retried as a network error.
      await expect(downloadDelta(s.url, join(dir, 'small-ring.rdelta'), { ...opts, retryIntervalMs: 60_000, ring: new ReadRing(4096) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      s.server.close();
    }
  });

  it("a frame damaged in the server's copy ends in ERR_CHECKSUM naming its byte after three tries, the good frames before it kept", async () => {
    const at = Math.floor(delta.length * 0.6);
    let damaged = true;
    const s = await serve(at, () => damaged);
    try {
      const path = join(dir, 'b.rdelta');
      const frame = frameStartOf(at);
      const err = await downloadDelta(s.url, path, { ...opts, retries: 30, retryIntervalMs: 60 }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_CHECKSUM', message: expect.stringContaining(`the delta server's copy of the delta is damaged at byte ${frame}`) });
      expect((err as Error).message).not.toContain('fetch it again');
      // Not 30 attempts: the first fetch again at once, the second after the retry interval, then given up.
      expect(s.starts).toEqual([0, frame, frame]);
      expect(s.times[2]! - s.times[1]!).toBeGreaterThanOrEqual(50);
      expect(existsSync(path)).toBe(false);
      expect(statSync(`${path}.part`).size).toBe(frame);
      // The server's copy made again: the next call fetches only from the damaged frame.
      damaged = false;
      await downloadDelta(s.url, path, opts);
      expect(s.starts.slice(3)).toEqual([frame]);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
    } finally {
      s.server.close();
    }
  });

  it('the scanner verifies a whole delta in any chunking and reports the damaged frame, with either CRC-32', () => {
    // The core's, and node:zlib's as downloadDelta passes it.
    for (const crc32 of [undefined, nodeRawDeflate.crc32]) {
      for (const step of [1, 7, 4096, delta.length]) {
        const scan = new FrameScanner({ crc32 });
        for (let i = 0; i < delta.length; i += step) scan.push(delta.subarray(i, i + step));
        expect(scan.complete).toBe(true);
        expect(scan.verified).toBe(delta.length);
      }
      const bad = delta.slice();
      bad[5000] ^= 1;
      const scan = new FrameScanner({ crc32 });
      let caught: unknown;
      try {
        scan.push(bad);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(DamagedRangeError);
      expect((caught as DamagedRangeError).offset).toBe(frameStartOf(5000));
    }
    // An rdiff delta (or anything without the magic) is passed through unchecked.
    const other = new FrameScanner();
    other.push(Uint8Array.of(0x72, 0x73, 0x02, 0x36, 0x45, 0x00));
    expect(other.checking).toBe(false);
  });

  it('a scan started at a frame head an earlier scan reported (onFrameHead) checks the rest as a scan from byte 0 does', () => {
    const starts: number[] = [];
    const first = new FrameScanner({ onFrameHead: (at) => starts.push(at) });
    first.push(delta); // in one piece: every frame head is reported all the same
    expect(starts.map(frameStartOf)).toEqual(starts);
    expect(new Set(starts).size).toBe(starts.length);
    const some = starts.filter((_, i) => i % 7 === 3);
    expect(some.length).toBeGreaterThan(3);
    for (const at of some) {
      expect(at).toBe(frameStartOf(at));
      const scan = new FrameScanner({ startAtFrame: at });
      scan.push(delta.subarray(at));
      expect([scan.complete, scan.verified]).toEqual([true, delta.length]);
      const bad = delta.slice(at);
      bad[bad.length >> 1] ^= 1;
      expect(() => new FrameScanner({ startAtFrame: at }).push(bad)).toThrow(new RegExp(`at byte ${frameStartOf(at + (bad.length >> 1))};`));
    }
    expect(() => new FrameScanner({ startAtFrame: -1 })).toThrow(/startAtFrame must be a byte offset/);
  });
});

/** A server answering each request with `handle`; `requests` counts them. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; requests: () => number; close: () => void }> {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`;
  return { url, requests: () => requests, close: () => (server.closeAllConnections(), server.close()) };
}

/** A URL where nothing listens: every connection refused. */
async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}/delta`;
}

describe('a stalled server', () => {
  it('one that accepts and never answers: each attempt ends after idleTimeoutMs, ERR_TIMEOUT after `retries` of them, no part left', async () => {
    const srv = await listen(() => {});
    try {
      const path = join(dir, 'silent.rdelta');
      const ac = new AbortController();
      await expect(downloadDelta(srv.url, path, { ...opts, idleTimeoutMs: 30, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringContaining('nothing arrived for 30 ms') });
      expect(srv.requests()).toBe(opts.retries);
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    } finally {
      srv.close();
    }
  }, 5000);

  it('one that sends the headers and part of the body, then goes quiet: the next attempt resumes with a Range request', async () => {
    const s = await serve(-1, () => false);
    try {
      const path = join(dir, 'stall.rdelta');
      const stopAt = Math.floor(delta.length * 0.4);
      s.stallAt = stopAt;
      // The server recovers once the stalled answer's bytes are in.
      const onProgress = (e: { bytes?: number }) => void ((e.bytes ?? 0) >= stopAt && (s.stallAt = undefined));
      await downloadDelta(s.url, path, { ...opts, idleTimeoutMs: 40, onProgress });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(s.starts).toEqual([0, stopAt]);
    } finally {
      s.server.closeAllConnections();
      s.server.close();
    }
  }, 5000);
});

describe('attempts and failures', () => {
  it('`retries` is the number of attempts in all, at least one', async () => {
    // Each request's connection dropped before an answer.
    const srv = await listen((req) => req.socket.destroy());
    try {
      for (const [retries, attempts] of [[0, 1], [1, 1], [4, 4]] as const) {
        const before = srv.requests();
        await expect(downloadDelta(srv.url, join(dir, `drop-${retries}.rdelta`), { ...opts, retries })).rejects.toMatchObject({ code: 'ERR_REMOTE', message: expect.stringContaining(attempts === 1 ? '(1 attempt)' : `(${attempts} attempts)`) });
        expect(srv.requests() - before).toBe(attempts);
      }
      await expect(downloadDelta(srv.url, join(dir, 'drop-x.rdelta'), { ...opts, retries: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(downloadDelta(srv.url, join(dir, 'drop-x.rdelta'), { ...opts, idleTimeoutMs: Number.NaN })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(downloadDelta(srv.url, join(dir, 'drop-x.rdelta'), { ...opts, requestTimeoutMs: Number.NaN })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(srv.requests()).toBe(6);
    } finally {
      srv.close();
    }
  });

  it('a time past what setTimeout holds (2^31 ms) is waited, not taken for 1 ms', async () => {
    // Drops the first connection, answers the others after a pause.
    const srv = await listen((req, res) => {
      if (srv.requests() === 1) return void req.socket.destroy();
      setTimeout(() => res.writeHead(200, { 'content-length': delta.length, 'x-delta-sha256': sha }).end(delta), 30);
    });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 150);
      await expect(downloadDelta(srv.url, join(dir, 'long-wait.rdelta'), { ...opts, retryIntervalMs: 2 ** 31, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(srv.requests()).toBe(1);
      const path = join(dir, 'long-idle.rdelta');
      await downloadDelta(srv.url, path, { ...opts, idleTimeoutMs: 2 ** 31 });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
    } finally {
      srv.close();
    }
  });

  it("an abort's reason is the ERR_ABORTED error's cause, during a retry's wait and mid-body", async () => {
    // An agent tells "shutting down" from "superseded by a newer update" by what it aborted with.
    const srv = await listen((req, res) => {
      if (srv.requests() === 1) return void req.socket.destroy();
      res.writeHead(200, { 'content-length': delta.length, 'x-delta-sha256': sha }).write(delta.subarray(0, 1000)); // then stalls
    });
    try {
      for (const [name, at] of [['waiting.rdelta', 50], ['body.rdelta', 400]] as const) {
        const ac = new AbortController();
        const reason = new Error(`superseded ${name}`);
        setTimeout(() => ac.abort(reason), at);
        const err = await downloadDelta(srv.url, join(dir, name), { ...opts, retryIntervalMs: 200, signal: ac.signal }).catch((e: unknown) => e);
        expect(err, name).toMatchObject({ code: 'ERR_ABORTED', cause: reason });
      }
    } finally {
      srv.close();
    }
  });

  it('leaves no listener on a long-lived signal after many retries, a success or a failure', async () => {
    const ac = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const url = await refusingUrl();
      await expect(downloadDelta(url, join(dir, 'refused.rdelta'), { ...opts, retries: 15, retryIntervalMs: 1, signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_REMOTE' });
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      const s = await serve(Math.floor(delta.length / 2), (n) => n === 0);
      try {
        await downloadDelta(s.url, join(dir, 'listeners.rdelta'), { ...opts, signal: ac.signal });
      } finally {
        s.server.close();
      }
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a server restarting (503) or busy (429) is waited for, as one still generating is', async () => {
    const srv = await listen((_, res) => {
      const n = srv.requests();
      if (n === 1) return void res.writeHead(503, { 'retry-after': '0' }).end('the delta server is closing\n');
      if (n === 2) return void res.writeHead(429, { 'retry-after': '0' }).end();
      res.writeHead(200, { 'content-length': delta.length, 'x-delta-sha256': sha }).end(delta);
    });
    try {
      const path = join(dir, 'restarting.rdelta');
      await downloadDelta(srv.url, path, { ...opts, retries: 1 });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(srv.requests()).toBe(3);
    } finally {
      srv.close();
    }
  });

  it('a delta made again mid-download (202 after part of it came) is waited for as long as the first: the same one resumes, another starts over', async () => {
    const other = diff(basis, prng(256 << 10, 3), { level: 1, frameSize: 4096 });
    const otherSha = createHash('sha256').update(other).digest('hex');
    for (const [name, again, againSha] of [['same', delta, sha], ['other', other, otherSha]] as const) {
      const ranges: string[] = [];
      const srv = await listen((req, res) => {
        const n = srv.requests();
        ranges.push(req.headers.range ?? '');
        if (n === 1) {
          // Part of it, then, past the device's requestTimeoutMs, the server finds its copy damaged and stops.
          res.writeHead(200, { 'content-length': delta.length, 'x-delta-sha256': sha }).write(delta.subarray(0, 100_000));
          return void setTimeout(() => res.destroy(), 600);
        }
        if (n <= 3) return void res.writeHead(202, { 'retry-after': '0' }).end('the delta is being generated; ask again\n');
        const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
        res.writeHead(from > 0 ? 206 : 200, { 'content-length': again.length - from, 'x-delta-sha256': againSha }).end(again.subarray(from));
      });
      try {
        const path = join(dir, `made-again-${name}.rdelta`);
        await downloadDelta(srv.url, path, { requestTimeoutMs: 400, maxBackoffMs: 50, retries: 3, retryIntervalMs: 10 });
        expect(Buffer.compare(readFileSync(path), again)).toBe(0);
        const resumedAt = ranges[1];
        expect(resumedAt).toMatch(/^bytes=[1-9]\d*-$/);
        // The same delta goes on where it stopped; another is fetched again from its start.
        expect(ranges).toEqual(name === 'same' ? ['', resumedAt, resumedAt, resumedAt] : ['', resumedAt, resumedAt, resumedAt, '']);
      } finally {
        srv.close();
      }
    }
  });

  it('a server that makes the delta again after every part it sends is waited for three runs of 202s, not one per attempt', async () => {
    const srv = await listen((_, res) => {
      // Odd requests: a part, then the connection dropped (its copy found damaged); even ones: one 202.
      if (srv.requests() % 2 === 1) return void res.writeHead(200, { 'content-length': delta.length, 'x-delta-sha256': sha }).end(delta.subarray(0, 1000));
      res.writeHead(202, { 'retry-after': '0' }).end('the delta is being generated; ask again\n');
    });
    try {
      const path = join(dir, 'made-again-forever.rdelta');
      const e = await downloadDelta(srv.url, path, { requestTimeoutMs: 5_000, maxBackoffMs: 10, retries: 20, retryIntervalMs: 1 }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringContaining('began making the delta again 3 times') });
      // Three runs of 202s (one each here) between four parts, where 20 attempts allowed 20.
      expect(srv.requests()).toBe(6);
    } finally {
      srv.close();
    }
  });

  it('a server restarting (503) after each of four parts is no delta made again: waited for each time, and the download ends whole', async () => {
    const srv = await listen((req, res) => {
      const n = srv.requests();
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (n % 2 === 0 && n <= 8) return void res.writeHead(503, { 'retry-after': '0' }).end('the delta server is closing; ask again\n');
      // Odd requests up to the 7th: the next 1000 bytes, then the connection dropped; then the rest.
      const end = n <= 7 ? from + 1000 : delta.length;
      res.writeHead(from > 0 ? 206 : 200, { 'content-length': delta.length - from, 'x-delta-sha256': sha }).end(delta.subarray(from, end));
    });
    try {
      const path = join(dir, 'restarts-mid-download.rdelta');
      await downloadDelta(srv.url, path, { requestTimeoutMs: 5_000, maxBackoffMs: 10, retries: 10, retryIntervalMs: 1 });
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(srv.requests()).toBe(9);
    } finally {
      srv.close();
    }
  });

  it('a wait that runs out quotes the server\'s last answer (a 503 saying why)', async () => {
    const why = "the delta server's Docker Engine is unreachable (restarting?); ask again: cannot reach the Docker Engine at /var/run/docker.sock: no such socket";
    const srv = await listen((_, res) => void res.writeHead(503, { 'retry-after': '0' }).end(`${why} (ERR_IO)\n`));
    try {
      const e = await downloadDelta(srv.url, join(dir, 'engine-away.rdelta'), { requestTimeoutMs: 300, maxBackoffMs: 50, retries: 1, retryIntervalMs: 1 }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'ERR_TIMEOUT', message: `the delta server was still generating the delta after 300 ms (its last answer: 503 ${why})` });
    } finally {
      srv.close();
    }
  });

  it('a call that received nothing (a server error, a server out of reach) leaves no part; one that resumed keeps it', async () => {
    const srv = await listen((_, res) => void res.writeHead(500, { 'content-type': 'text/plain' }).end('cannot make the delta: out of disk space (ERR_IO)\n'));
    try {
      const path = join(dir, 'nothing.rdelta');
      await expect(downloadDelta(srv.url, path, opts)).rejects.toMatchObject({ code: 'ERR_REMOTE' });
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
      await expect(downloadDelta(await refusingUrl(), path, opts)).rejects.toMatchObject({ code: 'ERR_REMOTE' });
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
      // A part from an earlier call outlives a failed one.
      writeFileSync(`${path}.part`, delta.subarray(0, 5000));
      writeFileSync(`${path}.part.json`, JSON.stringify({ url: srv.url, sha256: sha }));
      await expect(downloadDelta(srv.url, path, opts)).rejects.toMatchObject({ code: 'ERR_REMOTE' });
      expect(statSync(`${path}.part`).size).toBeGreaterThan(0);
      expect(existsSync(`${path}.part.json`)).toBe(true);
    } finally {
      srv.close();
    }
  });

  it("a 404 fails at once, quoting the server's reason without its error code", async () => {
    const reason = 'not found: the Docker Engine at /var/run/docker.sock has no image app:9; docker pull or docker load it there';
    const srv = await listen((_, res) => void res.writeHead(404, { 'content-type': 'text/plain' }).end(`${reason} (ERR_NOT_FOUND)\n`));
    try {
      const err = await downloadDelta(srv.url, join(dir, 'missing.rdelta'), { ...opts, retries: 30 }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_REMOTE', message: `the delta server answered 404: ${reason}` });
      expect(srv.requests()).toBe(1);
    } finally {
      srv.close();
    }
  });

  it('a 204 (the pair names one image now) fails at once, naming the image', async () => {
    const id = `sha256:${'c3'.repeat(32)}`;
    const srv = await listen((_, res) => void res.writeHead(204, { 'x-image-id': id }).end());
    try {
      const err = await downloadDelta(srv.url, join(dir, 'same.rdelta'), { ...opts, retries: 30 }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_REMOTE', message: `the delta server answered 204: both images are ${id}, there is no delta` });
      expect(srv.requests()).toBe(1);
    } finally {
      srv.close();
    }
  });
});

describe('resuming across calls', () => {
  /** Downloads into `path` until `stopAt` bytes have landed, then aborts (as a killed device would stop). */
  async function interrupted(s: TestServer, path: string, stopAt: number): Promise<void> {
    const ac = new AbortController();
    const onProgress = (e: { bytes?: number }) => void ((e.bytes ?? 0) >= stopAt && ac.abort());
    // The server stops sending at `stopAt`, so the abort lands there however the bytes are chunked.
    s.stallAt = stopAt;
    try {
      await expect(downloadDelta(s.url, path, { ...opts, signal: ac.signal, onProgress })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    } finally {
      s.stallAt = undefined;
    }
  }

  it('a stopped download keeps its part and the next call fetches only the rest, wherever it stopped', async () => {
    const s = await serve(-1, () => false);
    try {
      // Aborted a chunk before the end, fetch's body reader used to wait forever.
      for (const at of [0.99, 0.9]) {
        const p = join(dir, `r1-${at}.rdelta`);
        await interrupted(s, p, Math.floor(delta.length * at));
        await downloadDelta(s.url, p, opts);
        expect(Buffer.compare(readFileSync(p), delta)).toBe(0);
      }
      const path = join(dir, 'r1.rdelta');
      await interrupted(s, path, delta.length >> 1);
      const kept = statSync(`${path}.part`).size;
      expect(kept).toBeGreaterThan(0);
      expect(JSON.parse(readFileSync(`${path}.part.json`, 'utf8'))).toEqual({ url: s.url, sha256: sha });
      await downloadDelta(s.url, path, opts);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(s.starts[s.starts.length - 1]).toBe(kept);
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
    } finally {
      s.server.close();
    }
  });

  it('a write that fails for another reason than room (EIO) ends at once with ERR_IO, and the part written so far is kept and resumed', async () => {
    // Only a disk without room frees its part for the pull; the verified bytes of a part the disk
    // failed to write for another reason are kept, as for any download cut short.
    const starts: number[] = [];
    const half = 128 << 10;
    let firstHalfWritten: () => void = () => {};
    const firstHalfOnDisk = new Promise<void>((r) => (firstHalfWritten = r));
    const server = createServer((req, res) => {
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      starts.push(from);
      res.writeHead(from > 0 ? 206 : 200, { 'content-length': delta.length - from, 'x-delta-sha256': sha });
      // The rest only once the first half is in the part: its first chunk then starts at `half`
      // however the socket's reads fall (a timer between them raced the device's writes on a busy machine).
      res.write(delta.subarray(from, Math.max(from, half)));
      void (from < half ? firstHalfOnDisk : Promise.resolve()).then(() => res.end(delta.subarray(Math.max(from, half))));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`;
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const realWrite = proto.write;
    const path = join(dir, 'eio.rdelta');
    // The write of the second chunk fails once, as a failing disk's does. Mocked (FileHandle's
    // write): an EIO cannot be produced for real here without a failing block device.
    let failed = false;
    const spy = vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
      if (!failed && typeof args[3] === 'number' && args[3] >= half) {
        failed = true;
        return Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' }));
      }
      return (realWrite.apply(this, args) as Promise<{ bytesWritten: number }>).then((r) => {
        if (typeof args[3] === 'number' && args[3] + r.bytesWritten === half) firstHalfWritten();
        return r;
      });
    });
    try {
      const err = await downloadDelta(url, path, opts).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_IO', message: `cannot write ${path}.part: EIO: i/o error, write` });
      expect(starts).toEqual([0]);
      expect(failed).toBe(true);
    } finally {
      spy.mockRestore();
    }
    try {
      // Before, the part was removed as if the disk were full, and the next call started over.
      expect(statSync(`${path}.part`).size).toBe(half);
      await downloadDelta(url, path, opts);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      expect(starts).toEqual([0, half]);
    } finally {
      server.close();
    }
  });

  it('a finished download that cannot be put in place (a folder there) is ERR_IO naming both paths', async () => {
    const s = await serve(-1, () => false);
    const path = join(dir, 'taken.rdelta');
    mkdirSync(join(path, 'inside'), { recursive: true });
    try {
      const err = await downloadDelta(s.url, path, opts).catch((e: unknown) => e);
      // Before: Node's own "EISDIR: illegal operation on a directory, rename …", no code of ours.
      expect(err).toMatchObject({ name: 'RolldeltaError', code: 'ERR_IO', message: expect.stringContaining(`cannot move the finished download to ${path} from ${path}.part: `) });
    } finally {
      s.server.close();
    }
  });

  it('a write that writes nothing and reports nothing: ERR_IO naming the part, which is removed', async () => {
    const s = await serve(-1, () => false);
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const path = join(dir, 'nothing.rdelta');
    // Mocked: no file system here writes nothing without reporting an error.
    const spy = vi.spyOn(proto, 'write').mockImplementation((buffer: unknown) => Promise.resolve({ bytesWritten: 0, buffer }));
    try {
      const err = await downloadDelta(s.url, path, opts).catch((e: unknown) => e);
      // Before, the message named no file.
      expect(err).toMatchObject({ code: 'ERR_IO', message: `cannot write ${path}.part: the file system wrote nothing and reported no error` });
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
    } finally {
      spy.mockRestore();
      s.server.close();
    }
  });

  it('a part whose tail a crash left damaged resumes from the last good frame', async () => {
    const s = await serve(-1, () => false);
    try {
      const path = join(dir, 'r2.rdelta');
      await interrupted(s, path, Math.floor(delta.length * 0.7));
      const part = readFileSync(`${path}.part`);
      const at = part.length - 100;
      part.fill(0, at);
      writeFileSync(`${path}.part`, part);
      await downloadDelta(s.url, path, opts);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      const resumedAt = s.starts[s.starts.length - 1];
      expect(resumedAt).toBe(frameStartOf(at));
      expect(resumedAt).toBeGreaterThan(0);
    } finally {
      s.server.close();
    }
  });

  it('a part of another URL, or one whose delta changed, starts over', async () => {
    const s = await serve(-1, () => false);
    try {
      const path = join(dir, 'r3.rdelta');
      writeFileSync(`${path}.part`, delta.subarray(0, 5000));
      writeFileSync(`${path}.part.json`, JSON.stringify({ url: `${s.url}?other`, sha256: sha }));
      await downloadDelta(s.url, path, opts);
      expect(s.starts).toEqual([0]);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);

      writeFileSync(`${path}.part`, delta.subarray(0, 5000));
      writeFileSync(`${path}.part.json`, JSON.stringify({ url: s.url, sha256: '0'.repeat(64) }));
      await downloadDelta(s.url, path, opts);
      // The ranged answer names another SHA-256: it is dropped and the delta fetched from byte 0.
      expect(s.starts.slice(1)).toEqual([5000, 0]);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
    } finally {
      s.server.close();
    }
  });

  it('a part already whole is verified and kept without asking the server', async () => {
    const s = await serve(-1, () => false);
    try {
      const path = join(dir, 'r4.rdelta');
      writeFileSync(`${path}.part`, delta);
      writeFileSync(`${path}.part.json`, JSON.stringify({ url: s.url, sha256: sha }));
      await downloadDelta(s.url, path, opts);
      expect(s.starts).toEqual([]);
      expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
      // Whole but wrong (every frame intact, the SHA-256 not the announced one) is ERR_CHECKSUM, and dropped.
      writeFileSync(`${path}.part`, delta);
      writeFileSync(`${path}.part.json`, JSON.stringify({ url: s.url, sha256: '0'.repeat(64) }));
      await expect(downloadDelta(s.url, path, opts)).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
      expect(existsSync(`${path}.part`) || existsSync(`${path}.part.json`)).toBe(false);
    } finally {
      s.server.close();
    }
  });

  it('416 for a part longer than the delta starts over', async () => {
    const body = Buffer.from('rs\x026not a native delta, so no frames to check');
    const bodySha = createHash('sha256').update(body).digest('hex');
    const starts: number[] = [];
    const server = createServer((req, res) => {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const from = m ? Number(m[1]) : 0;
      starts.push(from);
      if (from >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(m ? 206 : 200, { 'content-length': body.length - from, 'x-delta-sha256': bodySha });
      res.end(body.subarray(from));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`;
      const path = join(dir, 'r5.rdelta');
      writeFileSync(`${path}.part`, Buffer.concat([body, Buffer.alloc(10)]));
      writeFileSync(`${path}.part.json`, JSON.stringify({ url, sha256: bodySha }));
      await downloadDelta(url, path, opts);
      expect(starts).toEqual([body.length + 10, 0]);
      expect(readFileSync(path).equals(body)).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('a server that sends too much', () => {
  /** Answers 200 with `length` as Content-Length (none when undefined) and then bytes for ever. */
  async function endless(length?: number): Promise<{ url: string; close: () => void }> {
    const junk = Buffer.alloc(64 << 10, 0x41);
    const server = createServer((_req, res) => {
      res.writeHead(200, length === undefined ? {} : { 'content-length': length });
      const pump = () => {
        while (!res.destroyed && res.write(junk));
      };
      res.on('drain', pump);
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`, close: () => (server.closeAllConnections(), server.close()) };
  }
  const options = { requestTimeoutMs: 1000, maxBackoffMs: 10, retries: 3, retryIntervalMs: 0, maxBytes: 1 << 20 };

  it('stops a body that never ends at maxBytes with ERR_LIMIT, at once, and keeps nothing of it', async () => {
    const s = await endless();
    try {
      const path = join(dir, 'endless.rdimg');
      await expect(downloadDelta(s.url, path, options)).rejects.toMatchObject({ code: 'ERR_LIMIT', message: expect.stringContaining('1048576 bytes allowed') });
      expect(existsSync(`${path}.part`)).toBe(false);
      expect(existsSync(`${path}.part.json`)).toBe(false);
    } finally {
      s.close();
    }
  });

  it('updateImage passes maxDeltaBytes on: ERR_LIMIT is the reason the delta path gave up', async () => {
    const s = await endless();
    const engine = {
      inspectImage: async (ref: string) => (ref === 'app:1' ? { Id: `sha256:${'1'.repeat(64)}` } : undefined),
      pullImage: async () => {
        throw new Error('no registry in this test');
      },
    } as unknown as DockerEngine;
    try {
      const e = await updateImage({ engine, from: 'app:1', to: 'app:2', deltaUrl: s.url, workDir: join(dir, 'work'), maxDeltaBytes: 1 << 20 }).catch((x: unknown) => x);
      expect((e as FallbackPullError).deltaError).toMatchObject({ code: 'ERR_LIMIT' });
      await expect(updateImage({ engine, to: 'app:2', deltaUrl: s.url, maxDeltaBytes: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      s.close();
    }
  });

  it('refuses a Content-Length above maxBytes before writing a byte', async () => {
    const s = await endless(100 << 20);
    try {
      const path = join(dir, 'announced.rdimg');
      await expect(downloadDelta(s.url, path, options)).rejects.toMatchObject({ code: 'ERR_LIMIT', message: expect.stringContaining('announced 104857600 bytes') });
      expect(existsSync(`${path}.part`)).toBe(false);
      await expect(downloadDelta(s.url, path, { ...options, maxBytes: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    } finally {
      s.close();
    }
  });
});
