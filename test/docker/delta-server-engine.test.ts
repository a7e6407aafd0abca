// The delta server with images saved from a real Docker Engine (a private dockerd): what it
// answers for an image the engine does not have, and while the engine restarts.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, createDeltaServer, engineArchives, type DeltaServer } from '../../src/index.js';
import { downloadDelta } from '../../src/docker/delta-download.js';
import { readImageDeltaFileHeader } from '../../src/image/image-delta-file.js';
import { dockerdAvailable, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildApp, importBusybox } from '../helpers/images.js';

const docker = requirePeer('dockerd', dockerdAvailable());

describe.skipIf(docker.skip)(`engineArchives with a real engine ${docker.message}`, () => {
  let d: Dockerd;
  let dir: string;
  let http: Server;
  let server: DeltaServer;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-server-engine-'));
    d = await startDockerd();
    await importBusybox(d.engine, 'rd-base:1');
    await buildApp(d.engine, 'rd-base:1', 'rd-app:1', { 'main.txt': 'release 1\n' });
    server = createDeltaServer({ source: engineArchives(d.engine, join(dir, 'cache')), store: new DeltaStore(join(dir, 'store')) });
    http = createServer(server.handler);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    await new Promise((r) => http?.close(r));
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers 404 at once naming the image the engine does not have (inspect: 404), starting no generation', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${base}/delta?from=rd-base:1&to=nope:9`);
      expect(r.status).toBe(404);
      const text = await r.text();
      expect(text).toBe(`not found: the Docker Engine at ${d.socketPath} has no image nope:9; docker pull or docker load it there (ERR_NOT_FOUND)\n`);
    }
    const both = await (await fetch(`${base}/delta?from=gone:1&to=nope:9`)).text();
    expect(both.split('\n').filter(Boolean)).toHaveLength(2);
    expect(server.generations).toBe(0);
  });

  it('saves the images it diffs into its cache folder, made when missing', async () => {
    expect(existsSync(join(dir, 'cache'))).toBe(false);
    expect(await server.generate('rd-base:1', 'rd-app:1')).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'cache')).filter((f) => f.endsWith('.tar'))).toHaveLength(2);
  });

  it('a delta made before its tag moved to another image (docker tag) is made again for the image the tag names now', async () => {
    const source = engineArchives(d.engine, join(dir, 'cache'));
    const app = (await d.engine.inspectImage('rd-app:1'))!.Id;
    const base = (await d.engine.inspectImage('rd-base:1'))!.Id;
    await d.engine.tagImage(app, 'rd-moving', '1');
    expect(await source.imageId!('rd-moving:1')).toBe(app);
    const s = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-moving')) });
    const newIdOf = async () => (await readImageDeltaFileHeader(new DeltaStore(join(dir, 'store-moving')).pathFor('rd-base:1', 'rd-moving:1'), 'the delta')).new.id;
    await s.generate('rd-base:1', 'rd-moving:1');
    expect(await newIdOf()).toBe(app);
    await s.generate('rd-base:1', 'rd-moving:1'); // stored, still current: not made again
    expect(s.generations).toBe(1);
    await d.engine.tagImage(base, 'rd-moving', '1');
    expect(await source.imageId!('rd-moving:1')).toBe(base);
    await s.generate('rd-base:1', 'rd-moving:1');
    expect(s.generations).toBe(2);
    expect(await newIdOf()).toBe(base);
  });

  it('asked from an image ID (a device following a moving tag): 204 while the tag names that image, then the delta from it by ID', async () => {
    const appId = (await d.engine.inspectImage('rd-app:1'))!.Id;
    const baseId = (await d.engine.inspectImage('rd-base:1'))!.Id;
    await d.engine.tagImage(baseId, 'rd-stable', '1');
    const url = `${base}/delta?from=${encodeURIComponent(baseId)}&to=rd-stable:1`;
    const same = await fetch(url, { method: 'HEAD' });
    expect(same.status).toBe(204);
    expect(same.headers.get('x-image-id')).toBe(baseId);
    await d.engine.tagImage(appId, 'rd-stable', '1');
    const got = join(dir, 'from-id.rdimg');
    await downloadDelta(url, got, { requestTimeoutMs: 60_000, maxBackoffMs: 200, retries: 1, retryIntervalMs: 0 });
    const header = await readImageDeltaFileHeader(got, 'the delta');
    expect([header.old.id, header.new.id]).toEqual([baseId, appId]);
  });

  it('an image ID the engine no longer has (pruned once the tag left it) is found while its archive is in the cache; else 404', async () => {
    const goneId = await buildApp(d.engine, 'rd-base:1', 'rd-gone:1', { 'main.txt': 'a release since pruned\n' });
    const source = engineArchives(d.engine, join(dir, 'cache-pruned'));
    const s = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-pruned')) });
    await s.generate(goneId, 'rd-app:1'); // its archive is cached now
    await d.engine.removeImage('rd-gone:1', { force: true });
    expect(await d.engine.inspectImage(goneId)).toBeUndefined();
    expect(await source.imageId!(goneId)).toBe(goneId);
    expect(await s.generate(goneId, 'rd-app:1', 6)).toBeGreaterThan(0); // another level: made again from the cached archive
    rmSync(join(dir, 'cache-pruned', `${goneId.slice(7)}.tar`));
    await expect(source.checkImage!(goneId)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('while its engine restarts, answers 503 with Retry-After, and a device waiting through it gets the delta', async () => {
    const url = `${base}/delta?from=rd-base:1&to=rd-app:1&level=6`;
    await d.kill();
    try {
      const r = await fetch(url);
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('2');
      // Refused, or a kept-alive connection to the killed engine broken (EPIPE, ECONNRESET): either way away.
      expect(await r.text()).toMatch(/^the delta server's Docker Engine is unreachable \(restarting\?\); ask again: (cannot reach the Docker Engine|the connection to the Docker Engine at .* failed during GET)/);
      const got = join(dir, 'while-restarting.rdimg');
      const download = downloadDelta(url, got, { requestTimeoutMs: 60_000, maxBackoffMs: 500, retries: 3, retryIntervalMs: 10 });
      await new Promise((r) => setTimeout(r, 1_000));
      await d.start();
      expect(await download).toBeGreaterThan(0);
    } finally {
      await d.start();
    }
  });

  it('a generation that fails because its engine went away is told to devices as a 503 to wait through, not a 500, until their next ask, which tries again', async () => {
    // A source that cannot tell cheaply whether it has an image: the generation finds the engine gone.
    const archives = engineArchives(d.engine, join(dir, 'cache-unchecked'));
    const s = createDeltaServer({ source: { archive: (ref) => archives.archive(ref) }, store: new DeltaStore(join(dir, 'store-unchecked')), retryAfterSeconds: 1 });
    const h = createServer(s.handler);
    await new Promise<void>((r) => h.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(h.address() as AddressInfo).port}/delta?from=rd-base:1&to=rd-app:1`;
    await d.kill();
    try {
      expect((await fetch(url)).status).toBe(202);
      // Its failure comes in at once (the engine's socket refuses): 503 with Retry-After for the
      // Retry-After's second, then the next request starts a generation again.
      const answers = new Set<string>();
      while (s.generations < 2) {
        const r = await fetch(url);
        answers.add(`${r.status} ${r.headers.get('retry-after') ?? '-'} ${(await r.text()).split(':')[0]}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect([...answers].sort()).toEqual([
        '202 1 the delta is being generated; ask again\n',
        "503 1 the delta server's Docker Engine went away while it made the delta (restarting?); ask again",
      ]);
      await d.start();
      let r = await fetch(url);
      while (r.status === 202 || r.status === 503) {
        await r.text();
        await new Promise((r) => setTimeout(r, 100));
        r = await fetch(url);
      }
      expect(r.status).toBe(200);
    } finally {
      await d.start();
      await new Promise((r) => h.close(r));
    }
  });
});
