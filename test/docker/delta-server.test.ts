// The delta server over real HTTP on loopback, with image archives from a directory.
// (An engine's answers for images it lacks: delta-server-engine.test.ts, with a real dockerd.)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, get, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeltaStore, DockerEngine, applyImageDelta, archiveDirectory, archiveFileName, createDeltaServer, engineArchives, type DeltaServer, type DeltaServerEvent, type DeltaSource } from '../../src/index.js';
import { downloadDelta } from '../../src/docker/delta-download.js';
import { ImageArchive } from '../../src/image/archive-reader.js';
import { readImageDeltaHeader } from '../../src/image/image-delta-format.js';
import { makeTar } from '../helpers/images.js';
import { requirePeer } from '../helpers/peers.js';

/** Paths the server has hashed, one entry per read of the whole file. */
const hashed = vi.hoisted(() => [] as string[]);
vi.mock('../../src/stream/file-sha256.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/stream/file-sha256.js')>();
  return {
    ...real,
    fileSha256: (path: string, ...rest: Parameters<typeof real.fileSha256> extends [string, ...infer R] ? R : never) => {
      hashed.push(path);
      return real.fileSha256(path, ...rest);
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-server-'));

/** Whether files here can be made immutable (`chattr +i`: root, on ext2/3/4 or xfs), which nothing, root included, can remove. */
const immutable = requirePeer('chattr +i', (() => {
  const f = join(dir, 'chattr-probe');
  writeFileSync(f, '');
  try {
    execFileSync('chattr', ['+i', f], { stdio: 'pipe' });
    execFileSync('chattr', ['-i', f], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `chattr +i failed (not root, or ${tmpdir()} is not ext2/3/4 or xfs; e2fsprogs has chattr): ${(e as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(f, { force: true });
  }
})());
const enc = new TextEncoder();
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A one-image docker save archive with a base layer and an app layer of release `n`. */
function release(n: number): Uint8Array {
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
  const layers = [makeTar([{ type: 'file', path: 'lib.txt', data: lines }]), makeTar([{ type: 'file', path: 'app.txt', data: `${lines}\nrelease ${n}` }])];
  const config = enc.encode(JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map(sha) } }));
  const paths = layers.map((l) => `${sha(l).slice(7)}/layer.tar`);
  return makeTar([
    ...layers.map((l, i) => ({ type: 'file' as const, path: paths[i], data: l })),
    { type: 'file', path: 'c.json', data: config },
    { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: [`app:${n}`], Layers: paths }]) },
  ]);
}

let server: Server;
let delta: DeltaServer;
let base: string;

/** Serves `handler` on a loopback port for the length of `use`. */
async function withServer(handler: RequestListener, use: (base: string) => Promise<void>): Promise<void> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    await use(`http://127.0.0.1:${(s.address() as AddressInfo).port}`);
  } finally {
    await new Promise((r) => s.close(r));
  }
}

/** Starts a GET of `url` and hangs up once the first chunk of the body arrives. */
function abortAfterFirstChunk(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (e) => (req.destroyed ? resolve() : reject(e)));
  });
}

/** Open file descriptors of this process (the server runs in it). */
const openFds = () => readdirSync('/proc/self/fd').length;

/** Asks for `url` until it is no longer 202, as a device does. */
/** The archive directory as a source whose generations hold at their first step until `open()`: the first is running, not done. */
function gatedSource(): { source: DeltaSource; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const files = archiveDirectory(dir);
  return { source: { archive: async (ref) => (await gate, files.archive(ref)) }, open };
}

async function untilDone(url: string): Promise<Response> {
  let r = await fetch(url);
  for (let i = 0; r.status === 202 && i < 200; i++) {
    await r.arrayBuffer();
    await new Promise((s) => setTimeout(s, 20));
    r = await fetch(url);
  }
  return r;
}

beforeAll(async () => {
  writeFileSync(join(dir, 'app_1.tar'), release(1));
  writeFileSync(join(dir, 'app_2.tar'), release(2));
  delta = createDeltaServer({ source: archiveDirectory(dir), store: new DeltaStore(join(dir, 'store')), retryAfterSeconds: 1 });
  server = createServer(delta.handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('createDeltaServer', () => {
  it('20 devices asking at once for a missing delta cause exactly one generation; then 200', async () => {
    const url = `${base}/delta?from=app:1&to=app:2`;
    const first = await Promise.all(Array.from({ length: 20 }, () => fetch(url)));
    for (const r of first) {
      expect([200, 202]).toContain(r.status);
      if (r.status === 202) expect(r.headers.get('retry-after')).toBe('1');
      await r.arrayBuffer();
    }
    let r = await fetch(url);
    for (let i = 0; r.status === 202 && i < 100; i++) {
      await r.arrayBuffer();
      await new Promise((s) => setTimeout(s, 50));
      r = await fetch(url);
    }
    expect(r.status).toBe(200);
    const body = new Uint8Array(await r.arrayBuffer());
    expect(delta.generations).toBe(1);
    // The delta it serves rebuilds release 2 from release 1.
    writeFileSync(join(dir, 'got.rdimg'), body);
    await applyImageDelta(join(dir, 'app_1.tar'), join(dir, 'got.rdimg'), join(dir, 'out.tar'));
    expect(Number(r.headers.get('content-length'))).toBe(body.length);
    // No gzip of the new layers to say what a pull would move: no device reads that figure.
    expect((await readImageDeltaHeader(async (p, n) => body.subarray(p, p + n), body.length)).header.pullBytes).toBeUndefined();
  });

  it('HEAD tells the size; Range resumes a download', async () => {
    const url = `${base}/delta?from=app:1&to=app:2`;
    const head = await fetch(url, { method: 'HEAD' });
    const size = Number(head.headers.get('content-length'));
    expect(size).toBe(readFileSync(join(dir, 'got.rdimg')).length);
    const part = await fetch(url, { headers: { range: 'bytes=10-' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-${size - 1}/${size}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(readFileSync(join(dir, 'got.rdimg')).subarray(10))).toBe(true);
    expect((await fetch(url, { headers: { range: `bytes=${size}-` } })).status).toBe(416);
    // The last N bytes (RFC 9110), all of them when N is more than there are.
    const whole = readFileSync(join(dir, 'got.rdimg'));
    const tail = await fetch(url, { headers: { range: 'bytes=-100' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe(`bytes ${size - 100}-${size - 1}/${size}`);
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(size - 100))).toBe(true);
    const all = await fetch(url, { headers: { range: `bytes=-${size + 5}` } });
    expect(all.headers.get('content-range')).toBe(`bytes 0-${size - 1}/${size}`);
    await all.arrayBuffer();
    expect((await fetch(url, { headers: { range: 'bytes=-0' } })).status).toBe(416);
    // Ranges it does not serve are ignored: the whole delta, 200.
    for (const range of ['bytes=5-3', 'bytes=0-1,5-9', `bytes=${size}-,${size + 9}-`, 'items=0-1', 'bytes=-']) {
      const r = await fetch(url, { headers: { range } });
      expect(r.status, range).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(whole), range).toBe(true);
    }
  });

  it('answers 404 at once for an image it has no archive for, naming the file it looked for; starts no generation', async () => {
    writeFileSync(join(dir, 'app-5.tar'), release(5)); // named the wrong way: app:5 is app_5.tar
    const before = delta.generations;
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${base}/delta?from=app:5&to=app:2`);
      expect(r.status).toBe(404);
      const text = await r.text();
      expect(text).toContain(`no archive for image app:5: looked for ${join(dir, 'app_5.tar')}`);
      expect(text).toContain('(ERR_NOT_FOUND)');
      expect(text).not.toContain('app:2');
    }
    // Both missing, both named; a registry's reference keeps only A-Z a-z 0-9 . - _ (as --help says).
    const both = await fetch(`${base}/delta?from=${encodeURIComponent('reg.io:5000/team/app:1.2')}&to=nope:9`);
    expect(both.status).toBe(404);
    const text = await both.text();
    expect(text).toContain(join(dir, 'reg.io_5000_team_app_1.2.tar'));
    expect(archiveFileName('reg.io:5000/team/app:1.2')).toBe('reg.io_5000_team_app_1.2.tar');
    expect(text).toContain('no archive for image nope:9');
    expect((await fetch(`${base}/delta?from=app:1&to=nope:9`, { method: 'HEAD' })).status).toBe(404);
    await expect(delta.generate('app:1', 'nope:8')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    expect(delta.generations).toBe(before + 1); // the generate() call, not the requests
  });

  it('a device asking for a missing image is told at once: one request, no waiting, ERR_REMOTE with the reason', async () => {
    const phases: string[] = [];
    const t0 = Date.now();
    const opts = { requestTimeoutMs: 60_000, maxBackoffMs: 30_000, retries: 30, retryIntervalMs: 10_000, onProgress: (e: { phase: string }) => phases.push(e.phase) };
    const err = await downloadDelta(`${base}/delta?from=app:1&to=nope:9`, join(dir, 'never.rdimg'), opts).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_REMOTE' });
    expect((err as Error).message).toContain('the delta server answered 404: not found: no archive for image nope:9');
    // updateImage falls back to a pull on this error, before any wait for a generation.
    expect(phases).not.toContain('waiting');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('with a source that cannot check cheaply, a missing image answers 202, then 404 from the generation', async () => {
    const own = archiveDirectory(dir);
    const s = createDeltaServer({ source: { archive: (ref) => own.archive(ref) }, store: new DeltaStore(join(dir, 'store-nocheck')), retryAfterSeconds: 1 });
    await withServer(s.handler, async (b) => {
      const url = `${b}/delta?from=app:1&to=nope:9`;
      expect((await fetch(url)).status).toBe(202);
      const r = await untilDone(url);
      expect(r.status).toBe(404);
      expect(await r.text()).toMatch(/^not found: no archive for image nope:9: .*\(ERR_NOT_FOUND\)\n$/);
    });
  });

  it('an engine source that cannot be reached answers 503 at once with Retry-After and the reason (a device waits: the engine may be restarting), starting no generation', async () => {
    const engine = new DockerEngine({ socketPath: join(dir, 'nobody-listens.sock') });
    const events: DeltaServerEvent[] = [];
    const s = createDeltaServer({ source: engineArchives(engine, join(dir, 'engine-cache')), store: new DeltaStore(join(dir, 'store-engine')), retryAfterSeconds: 3, onEvent: (e) => events.push(e) });
    await withServer(s.handler, async (b) => {
      const r = await fetch(`${b}/delta?from=app:1&to=app:2`);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('3');
      const text = await r.text();
      expect(text).toContain("the delta server's Docker Engine is unreachable (restarting?); ask again: cannot reach the Docker Engine at");
      // The log's request event quotes what the device was told.
      while (!events.some((e) => e.type === 'request')) await new Promise((r) => setTimeout(r, 5));
      expect(events.find((e) => e.type === 'request')).toMatchObject({ status: 503, reason: text.trimEnd() });
      expect(s.generations).toBe(0);
    });
  });

  it('reports a failed generation with its reason, and bad requests with 400/404/405', async () => {
    writeFileSync(join(dir, 'broken_1.tar'), 'not an image archive');
    const url = `${base}/delta?from=broken:1&to=app:2`;
    expect((await fetch(url)).status).toBe(202);
    const r = await untilDone(url);
    expect(r.status).toBe(500);
    expect(await r.text()).toMatch(/^generating the delta failed: .*\(ERR_[A-Z_]+\)\n$/);
    expect((await fetch(`${base}/delta?from=app:1`)).status).toBe(400);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/delta?from=a&to=b`, { method: 'POST' })).status).toBe(405);
  });

  it('makes a delta at the level a device asks for, once, beside the server\'s own', async () => {
    const url = `${base}/delta?from=app:1&to=app:2`;
    const ownBytes = readFileSync(join(dir, 'got.rdimg'));
    // The server's own level asked for by name is the delta it already has: no generation.
    const before = delta.generations;
    const same = await fetch(`${url}&level=9`);
    expect(same.status).toBe(200);
    expect(Buffer.from(await same.arrayBuffer()).equals(ownBytes)).toBe(true);
    expect(delta.generations).toBe(before);
    // Level 6: generated once, however many ask, stored apart from the level 9 one.
    const first = await Promise.all(Array.from({ length: 5 }, () => fetch(`${url}&level=6`)));
    for (const r of first) await r.arrayBuffer();
    expect(delta.generations).toBe(before + 1);
    let r = await fetch(`${url}&level=6`);
    for (let i = 0; r.status === 202 && i < 100; i++) {
      await r.arrayBuffer();
      await new Promise((s) => setTimeout(s, 50));
      r = await fetch(`${url}&level=6`);
    }
    expect(r.status).toBe(200);
    const body = new Uint8Array(await r.arrayBuffer());
    expect(r.headers.get('x-delta-sha256')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(Buffer.from(body).equals(ownBytes)).toBe(false);
    expect(Buffer.from(body).equals(readFileSync(new DeltaStore(join(dir, 'store')).pathFor('app:1', 'app:2', 6)))).toBe(true);
    expect(delta.generations).toBe(before + 1);
    // It rebuilds release 2 like the level 9 one.
    writeFileSync(join(dir, 'got6.rdimg'), body);
    await applyImageDelta(join(dir, 'app_1.tar'), join(dir, 'got6.rdimg'), join(dir, 'out6.tar'));
    expect(readFileSync(join(dir, 'out6.tar')).equals(readFileSync(join(dir, 'out.tar')))).toBe(true);
    // generate() takes the same level, and finds the stored delta.
    expect(await delta.generate('app:1', 'app:2', 6)).toBe(body.length);
    expect(delta.generations).toBe(before + 1);
    for (const bad of ['10', '-1', 'x', '6.5', '']) {
      const res = await fetch(`${url}&level=${bad}`);
      expect(res.status, `level=${bad}`).toBe(400);
      expect(await res.text()).toContain('level must be');
    }
    await expect(delta.generate('app:1', 'app:2', 12)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(() => createDeltaServer({ source: archiveDirectory(dir), store: new DeltaStore(dir), level: 10 })).toThrow(/level must be/);
  });

  it('generates ahead of time, reusing the index of a base it has seen', async () => {
    writeFileSync(join(dir, 'app_3.tar'), release(3));
    const hits = delta.basisCache!.hits;
    await delta.generate('app:1', 'app:3'); // app:1 was indexed for the first pair
    expect(delta.basisCache!.hits).toBe(hits + 1);
    const size = await delta.generate('app:2', 'app:1');
    const r = await fetch(`${base}/delta?from=app:2&to=app:1`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(Number(r.headers.get('content-length'))).toBe(size);
  });

  it('a download cut short by the device closes the delta file: open fds return to where they were', async () => {
    const store = new DeltaStore(join(dir, 'store-abort'));
    mkdirSync(store.dir, { recursive: true });
    // Larger than the loopback socket buffers, so the server is still reading when the device hangs up.
    writeFileSync(store.pathFor('big:1', 'big:2'), Buffer.alloc(32 << 20, 7));
    const s = createDeltaServer({ source: archiveDirectory(dir), store });
    await withServer(s.handler, async (b) => {
      await abortAfterFirstChunk(`${b}/delta?from=big:1&to=big:2`); // the digest is computed once, first
      await new Promise((r) => setTimeout(r, 100));
      const before = openFds();
      for (let i = 0; i < 20; i++) await abortAfterFirstChunk(`${b}/delta?from=big:1&to=big:2`);
      let after = openFds();
      for (let i = 0; after > before && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = openFds();
      }
      expect(after).toBeLessThanOrEqual(before);
    });
  });

  it('a delta regenerated at the same size is served with its own checksum, not the one before', async () => {
    const store = new DeltaStore(join(dir, 'store-regen'));
    mkdirSync(store.dir, { recursive: true });
    const path = store.pathFor('re:1', 're:2');
    const s = createDeltaServer({ source: archiveDirectory(dir), store });
    await withServer(s.handler, async (b) => {
      const url = `${b}/delta?from=re:1&to=re:2`;
      const first = Buffer.alloc(1000, 1);
      writeFileSync(path, first);
      const r1 = await fetch(url);
      expect(r1.headers.get('x-delta-sha256')).toBe(createHash('sha256').update(first).digest('hex'));
      await r1.arrayBuffer();
      // An operator removes it; it is generated again (through a temporary file), as large, later.
      rmSync(path);
      const second = Buffer.alloc(1000, 2);
      writeFileSync(`${path}.new`, second);
      utimesSync(`${path}.new`, new Date(), new Date(Date.now() + 5_000));
      renameSync(`${path}.new`, path);
      const r2 = await fetch(url);
      expect(r2.headers.get('x-delta-sha256')).toBe(createHash('sha256').update(second).digest('hex'));
      expect(Buffer.from(await r2.arrayBuffer()).equals(second)).toBe(true);
    });
  });

  it('a stored delta damaged on its disk (a flipped byte, cut short) is made again, not served for devices to pull', async () => {
    const events: DeltaServerEvent[] = [];
    const store = new DeltaStore(join(dir, 'store-rot'));
    const s = createDeltaServer({ source: archiveDirectory(dir), store, retryAfterSeconds: 1, onEvent: (e) => e.type !== 'request' && events.push(e) });
    await s.generate('app:1', 'app:2', 6);
    const path = store.pathFor('app:1', 'app:2', 6);
    const good = readFileSync(path);
    const want = createHash('sha256').update(good).digest('hex');
    const device = { requestTimeoutMs: 20_000, maxBackoffMs: 200, retries: 5, retryIntervalMs: 10 };
    const damaged = [(b: Buffer) => ((b[b.length >> 1] ^= 0x10), b), (b: Buffer) => b.subarray(0, b.length - 100)];
    await withServer(s.handler, async (b) => {
      for (const [i, damage] of damaged.entries()) {
        writeFileSync(path, damage(Buffer.from(good)));
        const first = await fetch(`${b}/delta?from=app:1&to=app:2&level=6`);
        expect(first.status).toBe(202); // not the damaged copy, with its own SHA-256
        await first.arrayBuffer();
        const got = join(dir, `rot-device-${i}.rdimg`);
        await downloadDelta(`${b}/delta?from=app:1&to=app:2&level=6`, got, device);
        expect(createHash('sha256').update(readFileSync(got)).digest('hex')).toBe(want);
      }
    });
    expect(events.filter((e) => e.type === 'delta-damaged').map((e) => (e as { reason: string }).reason)).toEqual([
      expect.stringMatching(/damaged: a (frame|header block) fails its CRC-32 at byte \d+$/),
      expect.stringMatching(/damaged: it ends at byte \d+, before its trailer/),
    ]);
    expect(s.generations).toBe(3);
    // generate(), as at build time, makes a damaged one again too.
    writeFileSync(path, damaged[0](Buffer.from(good)));
    expect(await s.generate('app:1', 'app:2', 6)).toBe(good.length);
    expect(readFileSync(path).equals(good)).toBe(true);
  });

  it.skipIf(immutable.skip)(`a damaged stored delta the server cannot remove is answered 500 saying so, without reading it again per request; removable again, it is made again ${immutable.message}`, async () => {
    const store = new DeltaStore(join(dir, 'store-immutable'));
    const s = createDeltaServer({ source: archiveDirectory(dir), store, retryAfterSeconds: 1 });
    await s.generate('app:1', 'app:2', 6);
    const path = store.pathFor('app:1', 'app:2', 6);
    const good = readFileSync(path);
    writeFileSync(path, good.subarray(0, good.length - 100));
    // Immutable (ext4's i attribute): not even root can remove it, as on a store remounted read-only.
    execFileSync('chattr', ['+i', path]);
    try {
      await withServer(s.handler, async (b) => {
        for (let i = 0; i < 3; i++) {
          const r = await fetch(`${b}/delta?from=app:1&to=app:2&level=6`);
          expect(r.status).toBe(500);
          expect(await r.text()).toMatch(/is damaged: it ends at byte \d+, before its trailer .*and the server cannot remove it to make it again/);
        }
        expect(hashed.filter((p) => p === path)).toHaveLength(1);
        execFileSync('chattr', ['-i', path]);
        expect((await untilDone(`${b}/delta?from=app:1&to=app:2&level=6`)).status).toBe(200);
        expect(readFileSync(path).equals(good)).toBe(true);
      });
    } finally {
      execFileSync('chattr', ['-i', path], { stdio: 'ignore' });
    }
  });

  it('a stored delta whose reference names another image now (its archive replaced) is made again, not served; one whose old archive was removed is still served', async () => {
    const own = join(dir, 'moving');
    mkdirSync(own);
    const put = (name: string, n: number) => {
      // As an operator replaces an archive: a new file renamed over the old one.
      writeFileSync(join(own, `${name}.new`), release(n));
      renameSync(join(own, `${name}.new`), join(own, name));
    };
    put('app_1.tar', 1);
    put('app_2.tar', 2);
    const ids = new Map<number, string>();
    for (const n of [1, 2, 3, 4]) {
      writeFileSync(join(own, `probe-${n}.tar`), release(n));
      const a = await ImageArchive.open(join(own, `probe-${n}.tar`));
      ids.set(n, a.image().id);
      await a.close();
    }
    const outdated: string[] = [];
    const s = createDeltaServer({ source: archiveDirectory(own), store: new DeltaStore(join(own, 'store')), retryAfterSeconds: 1, onEvent: (e) => void (e.type === 'delta-outdated' && outdated.push(e.reason)) });
    await withServer(s.handler, async (b) => {
      const url = `${b}/delta?from=app:1&to=app:2`;
      /** The images the delta answered to `url` goes between. */
      const between = async () => {
        const r = await untilDone(url);
        expect(r.status).toBe(200);
        const bytes = new Uint8Array(await r.arrayBuffer());
        const { header } = await readImageDeltaHeader(async (p, n) => bytes.subarray(p, p + n), bytes.length);
        return [header.old.id, header.new.id];
      };
      expect(await between()).toEqual([ids.get(1), ids.get(2)]);
      expect(await between()).toEqual([ids.get(1), ids.get(2)]);
      expect(s.generations).toBe(1);

      put('app_2.tar', 3); // app:2 re-saved as another image
      const told = await fetch(url);
      expect(told.status).toBe(202);
      await told.text();
      expect(outdated).toHaveLength(1);
      expect(outdated[0]).toContain(`is outdated: app:2 names image ${ids.get(3)} now, not ${ids.get(2)}`);
      expect(await between()).toEqual([ids.get(1), ids.get(3)]);

      put('app_1.tar', 4); // and app:1
      expect(await between()).toEqual([ids.get(4), ids.get(3)]);
      expect(outdated[1]).toContain(`is outdated: app:1 names image ${ids.get(4)} now, not ${ids.get(1)}`);
      expect(s.generations).toBe(3);

      // The old release's archive removed once its deltas are made: they are served still.
      rmSync(join(own, 'app_1.tar'));
      expect(await between()).toEqual([ids.get(4), ids.get(3)]);
      expect(s.generations).toBe(3);
      expect(outdated).toHaveLength(2);
    });
  });

  it('many first requests for a delta after a restart read it once for its checksum', async () => {
    const store = new DeltaStore(join(dir, 'store-digest'));
    mkdirSync(store.dir, { recursive: true });
    const path = store.pathFor('many:1', 'many:2');
    writeFileSync(path, Buffer.alloc(4 << 20, 3));
    const s = createDeltaServer({ source: archiveDirectory(dir), store });
    await withServer(s.handler, async (b) => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${b}/delta?from=many:1&to=many:2`, { method: 'HEAD' })));
      const want = createHash('sha256').update(readFileSync(path)).digest('hex');
      for (const r of answers) expect(r.headers.get('x-delta-sha256')).toBe(want);
      expect(hashed.filter((p) => p === path)).toHaveLength(1);
    });
  });

  it('a failed generation is told to every request for keepFailureMs, then the next request tries again', async () => {
    writeFileSync(join(dir, 'broken_2.tar'), 'not an image archive either');
    const s = createDeltaServer({ source: archiveDirectory(dir), store: new DeltaStore(join(dir, 'store-fail')), retryAfterSeconds: 1, keepFailureMs: 400 });
    await withServer(s.handler, async (b) => {
      const url = `${b}/delta?from=broken:2&to=app:2`;
      const first = await untilDone(url);
      expect(first.status).toBe(500);
      const reason = await first.text();
      expect(reason).toMatch(/^generating the delta failed: .*\(ERR_[A-Z_]+\)\n$/);
      // Ten devices polling meanwhile all get the failure, and start nothing.
      const polls = await Promise.all(Array.from({ length: 10 }, () => fetch(url)));
      for (const r of polls) {
        expect(r.status).toBe(500);
        expect(await r.text()).toBe(reason);
      }
      expect(s.generations).toBe(1);
      await new Promise((r) => setTimeout(r, 450));
      const again = await fetch(url);
      expect(again.status).toBe(202);
      await again.arrayBuffer();
      expect(s.generations).toBe(2);
      expect((await untilDone(url)).status).toBe(500);
    });
    expect(() => createDeltaServer({ source: archiveDirectory(dir), store: new DeltaStore(dir), keepFailureMs: -1 })).toThrow(/keepFailureMs must be/);
  });

  it('refuses options it cannot use when made, not at the first generation', () => {
    const source = archiveDirectory(dir);
    const store = new DeltaStore(dir);
    const bad: Array<[string, Record<string, unknown>]> = [
      ['workers', { workers: 3.5 }],
      ['retryAfterSeconds', { retryAfterSeconds: -1 }],
      ['retryAfterSeconds', { retryAfterSeconds: 1.5 }],
      ['cachedBases', { cachedBases: -1 }],
      ['source', { source: dir }],
      ['store', { store: undefined }],
    ];
    for (const [name, o] of bad) {
      expect(() => createDeltaServer({ source, store, ...o } as never), name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(name) }));
    }
  });

  it('close() aborts a running generation, leaving no file, and starts no more', async () => {
    const store = new DeltaStore(join(dir, 'store-close'));
    const s = createDeltaServer({ source: archiveDirectory(dir), store, retryAfterSeconds: 1 });
    await withServer(s.handler, async (b) => {
      const url = `${b}/delta?from=app:2&to=app:1`;
      const started = await fetch(url);
      expect(started.status).toBe(202);
      await started.arrayBuffer();
      expect(s.generations).toBe(1);
      await s.close();
      expect(readdirSync(store.dir)).toEqual([]); // no delta; the temporary file went with the abort
      const r = await fetch(url);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      await expect(s.generate('app:1', 'app:2')).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(s.generations).toBe(1);
      await s.close(); // again: nothing to wait for
    });
  });

  it('runs at most maxGenerations at once: the others wait their turn, their devices told 202', async () => {
    const events: DeltaServerEvent[] = [];
    const { source, open } = gatedSource();
    const s = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-queue')), maxGenerations: 1, retryAfterSeconds: 1, onEvent: (e) => events.push(e) });
    const queries = ['from=app:1&to=app:2', 'from=app:2&to=app:1', 'from=app:1&to=app:2&level=6'];
    const generation = () => events.filter((e): e is Extract<DeltaServerEvent, { from: string }> => e.type.startsWith('generation')).map((e) => [e.type, e.from, e.to, e.level, 'ahead' in e ? e.ahead : undefined].join(' ').trim());
    await withServer(s.handler, async (b) => {
      for (const q of queries) expect((await fetch(`${b}/delta?${q}`)).status).toBe(202);
      expect((await fetch(`${b}/delta?${queries[1]}`)).status).toBe(202); // still waiting: no second generation
      expect(s.generations).toBe(3);
      expect(generation()).toEqual(['generation-started app:1 app:2 9', 'generation-queued app:2 app:1 9 0', 'generation-queued app:1 app:2 6 1']);
      open();
      for (const q of queries) expect((await untilDone(`${b}/delta?${q}`)).status).toBe(200);
    });
    // A device can fetch a delta the moment it is stored, a little before its generation's
    // finished event (seen once on a loaded machine): the events are awaited, not assumed.
    for (let t = 0; generation().length < 8 && t < 200; t++) await new Promise((r) => setTimeout(r, 10));
    // One at a time, in the order asked for.
    expect(generation().slice(3)).toEqual([
      'generation-finished app:1 app:2 9', 'generation-started app:2 app:1 9', 'generation-finished app:2 app:1 9',
      'generation-started app:1 app:2 6', 'generation-finished app:1 app:2 6',
    ]);
    expect(() => createDeltaServer({ source, store: new DeltaStore(dir), maxGenerations: 0 })).toThrow(/maxGenerations is a whole number >= 1, got 0/);
  });

  it('twenty generations waiting their turn give the operator no leak warning', async () => {
    // Each listens for the close until its turn: Node warned of a possible leak past ten.
    const warnings: Error[] = [];
    const onWarning = (w: Error) => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { source, open } = gatedSource();
      const s = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-queue-many')), maxGenerations: 1 });
      const jobs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((level) => [s.generate('app:1', 'app:2', level), s.generate('app:2', 'app:1', level)]);
      while (s.generations < jobs.length) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      open();
      await Promise.all(jobs);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('close() ends the wait of a queued generation: ERR_ABORTED, never started', async () => {
    const events: DeltaServerEvent[] = [];
    const { source, open } = gatedSource();
    const s = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-queue-close')), maxGenerations: 1, onEvent: (e) => events.push(e) });
    // Each looks in the store first: the second is asked for once the first has its turn (asked
    // together, a loaded machine could answer the second's look first, and it took the turn).
    const first = s.generate('app:1', 'app:2').catch((e: unknown) => e);
    while (s.generations < 1) await new Promise((r) => setTimeout(r, 5));
    const queued = s.generate('app:2', 'app:1').catch((e: unknown) => e);
    while (s.generations < 2) await new Promise((r) => setTimeout(r, 5));
    const closed = s.close();
    expect(await queued).toMatchObject({ code: 'ERR_ABORTED', message: expect.stringContaining('closing') });
    open();
    await closed;
    expect(await first).toMatchObject({ code: 'ERR_ABORTED' });
    expect(events.filter((e) => e.type === 'generation-started').map((e) => e.from)).toEqual(['app:1']);
    expect(events.filter((e) => e.type === 'generation-failed').map((e) => e.from).sort()).toEqual(['app:1', 'app:2']);
  });

  it('a store with maxBytes removes the least recently made or served deltas, never the one just made', async () => {
    const store = new DeltaStore(join(dir, 'store-evict'), { maxBytes: 10_000 });
    mkdirSync(store.dir, { recursive: true });
    const paths = ['a:1', 'b:1', 'c:1', 'd:1'].map((from) => store.pathFor(from, 'x:2'));
    paths.forEach((path, i) => {
      writeFileSync(path, new Uint8Array(4000));
      const t = new Date(Date.now() - (10 - i) * 60_000); // a oldest, d newest
      utimesSync(path, t, t);
    });
    writeFileSync(join(store.dir, 'notes.txt'), 'not a delta');
    store.used(paths[0]); // a served just now: the most recent
    expect(await store.evict(paths[1])).toEqual({ files: 2, bytes: 8000, paths: [paths[2], paths[3]] }); // 16 000 > 10 000: c and d go, b kept
    expect(readdirSync(store.dir).sort()).toEqual([paths[0], paths[1]].map((p) => p.split('/').pop()).concat('notes.txt').sort());
    expect(await new DeltaStore(store.dir).evict(paths[0])).toEqual({ files: 0, bytes: 0, paths: [] }); // no maxBytes: keeps all
    for (const maxBytes of [0, -1, 1.5]) expect(() => new DeltaStore(dir, { maxBytes })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a store it cannot list for a moment keeps what it knows of the deltas served', async () => {
    const store = new DeltaStore(join(dir, 'store-unlisted'), { maxBytes: 10_000 });
    mkdirSync(store.dir, { recursive: true });
    const [a, b, c] = ['a:1', 'b:1', 'c:1'].map((from) => store.pathFor(from, 'x:2'));
    [a, b, c].forEach((path, i) => {
      writeFileSync(path, new Uint8Array(4000));
      const t = new Date(Date.now() - (10 - i) * 60_000); // a oldest, c newest
      utimesSync(path, t, t);
    });
    store.used(a); // a served just now: the most recent
    // readdir failing (EMFILE on a busy server; here the folder moved away): nothing to remove.
    renameSync(store.dir, `${store.dir}.away`);
    expect(await store.evict(c)).toEqual({ files: 0, bytes: 0, paths: [] });
    renameSync(`${store.dir}.away`, store.dir);
    // Before, that failed look forgot every delta's last use: a went, as the oldest by mtime.
    expect(await store.evict(c)).toEqual({ files: 1, bytes: 4000, paths: [b] });
  });

  it('keeps its store within maxBytes as it makes deltas, and tells onEvent', async () => {
    const events: DeltaServerEvent[] = [];
    const probe = new DeltaStore(join(dir, 'store-probe'));
    const s1 = createDeltaServer({ source: archiveDirectory(dir), store: probe });
    const one = await s1.generate('app:1', 'app:2');
    // Room for one delta of this pair and a little more: each new one pushes the older out.
    const store = new DeltaStore(join(dir, 'store-bounded'), { maxBytes: Math.ceil(one * 1.5) });
    const s = createDeltaServer({ source: archiveDirectory(dir), store, onEvent: (e) => events.push(e) });
    await s.generate('app:1', 'app:2');
    await s.generate('app:2', 'app:1');
    expect(await store.size('app:1', 'app:2')).toBeUndefined();
    expect(await store.size('app:2', 'app:1')).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'deltas-removed')).toEqual([{ type: 'deltas-removed', files: 1, bytes: one, maxBytes: Math.ceil(one * 1.5) }]);
    expect(await s.generate('app:1', 'app:2')).toBe(one); // asked for again: made again
    expect(s.generations).toBe(3);
  });

  it('removes temporary files a killed generation left in the store, once an hour old', async () => {
    const store = new DeltaStore(join(dir, 'store-leftovers'));
    mkdirSync(store.dir, { recursive: true });
    const stale = `.${store.pathFor('x:1', 'x:2').split('/').pop()}.0123456789ab.tmp`;
    const fresh = `.${store.pathFor('x:1', 'x:3').split('/').pop()}.ba9876543210.tmp`;
    for (const n of [stale, fresh, 'notes.tmp']) writeFileSync(join(store.dir, n), 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const n of [stale, 'notes.tmp']) utimesSync(join(store.dir, n), twoHoursAgo, twoHoursAgo);
    const s = createDeltaServer({ source: archiveDirectory(dir), store });
    await s.generate('app:1', 'app:2'); // the first generation waits for the sweep
    const names = readdirSync(store.dir);
    expect(names).not.toContain(stale);
    expect(names).toContain(fresh); // perhaps another server's generation, still running
    expect(names).toContain('notes.tmp'); // not a name the store writes
    expect(await store.removeStaleTempFiles(0)).toBe(1);
    expect(await new DeltaStore(join(dir, 'no-such-store')).removeStaleTempFiles()).toBe(0);
  });

  it('removes a killed generation\'s temporary file once it is an hour old, though the server restarted at once', async () => {
    const store = new DeltaStore(join(dir, 'store-restarted'));
    mkdirSync(store.dir, { recursive: true });
    const left = `.${store.pathFor('app:1', 'app:2').split('/').pop()}.0123456789ab.tmp`;
    writeFileSync(join(store.dir, left), 'partial'); // the process killed a moment ago
    const s = createDeltaServer({ source: archiveDirectory(dir), store });
    await s.generate('app:1', 'app:2', 6);
    expect(readdirSync(store.dir)).toContain(left); // perhaps another server's, still running
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(join(store.dir, left), twoHoursAgo, twoHoursAgo); // the same server, hours on
    await s.generate('app:1', 'app:2', 0);
    await s.generate('app:1', 'app:2', 1); // the sweep at a generation's start runs beside it
    expect(readdirSync(store.dir)).not.toContain(left);
  });

  it('tells onEvent of each request answered and each generation started, finished or failed', async () => {
    const events: DeltaServerEvent[] = [];
    const store = new DeltaStore(join(dir, 'store-events'));
    const s = createDeltaServer({ source: archiveDirectory(dir), store, retryAfterSeconds: 1, onEvent: (e) => events.push(e) });
    await withServer(s.handler, async (b) => {
      const done = await untilDone(`${b}/delta?from=app:1&to=app:2&level=6`);
      expect(done.status).toBe(200);
      const size = (await done.arrayBuffer()).byteLength;
      await untilDone(`${b}/delta?from=broken:1&to=app:2`).then((r) => r.text());
      await new Promise((r) => setTimeout(r, 50)); // the last answer's close
      const gens = events.filter((e) => e.type !== 'request');
      expect(gens).toEqual([
        { type: 'generation-started', from: 'app:1', to: 'app:2', level: 6 },
        { type: 'generation-finished', from: 'app:1', to: 'app:2', level: 6, bytes: size, ms: expect.any(Number) },
        { type: 'generation-started', from: 'broken:1', to: 'app:2', level: 9 },
        { type: 'generation-failed', from: 'broken:1', to: 'app:2', level: 9, reason: expect.stringMatching(/\(ERR_[A-Z_]+\)$/), ms: expect.any(Number) },
      ]);
      const requests = events.filter((e) => e.type === 'request');
      expect(requests[0]).toMatchObject({ method: 'GET', from: 'app:1', to: 'app:2', level: 6, status: 202, bytes: 0, complete: true });
      expect(requests).toContainEqual({ type: 'request', method: 'GET', from: 'app:1', to: 'app:2', level: 6, status: 200, bytes: size, complete: true, ms: expect.any(Number) });
      expect(requests.at(-1)).toMatchObject({ from: 'broken:1', level: undefined, status: 500 });
    });
    // A logger that throws breaks nothing.
    const t = createDeltaServer({ source: archiveDirectory(dir), store, onEvent: () => { throw new Error('log full'); } });
    await withServer(t.handler, async (b) => expect((await fetch(`${b}/delta?from=app:1&to=app:2&level=6`)).status).toBe(200));
  });
});
