// A device's dockerd restarting under an update: a real private dockerd killed (SIGKILL, a crash)
// and started again on the same socket and data, a real delta server over HTTP on loopback, and
// a local docker-registry for the fallback pull. The predicate's tests need no dockerd: fake
// engines on unix sockets that refuse, reset or cut their answers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DeltaStore,
  DockerEngine,
  FallbackPullError,
  RolldeltaError,
  archiveDirectory,
  createDeltaServer,
  isEngineUnreachable,
  updateImage,
  type DeltaServer,
  type UpdateEvent,
  type UpdateOptions,
} from '../../src/index.js';
import { dockerdAvailable, requirePeer, missingBinary, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildApp, importBusybox, saveToFile } from '../helpers/images.js';
import { holdAnswer, serveLoopback, type LoopbackServer } from '../helpers/loopback-http.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<RolldeltaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof RolldeltaError)) throw new Error(`expected a RolldeltaError, got ${String(e)}`);
  return e;
}

/** A fake engine on a unix socket under a fresh folder: `serve` gets each connection. */
async function fakeEngine(serve: (sock: Socket) => void): Promise<{ socketPath: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'rd-fake-'));
  const socketPath = join(dir, 's');
  const server: NetServer = createNetServer((sock) => {
    sock.on('error', () => {});
    serve(sock);
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    close: async () => {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('isEngineUnreachable', () => {
  it("recognises the engine's errors for a missing socket, a refused connection and one cut mid-answer; not a local file's ERR_IO", async () => {
    // A missing socket (dockerd stopped cleanly removes it): ENOENT.
    const missing = await rejection(new DockerEngine({ socketPath: '/tmp/rd-no-such-dir/docker.sock' }).inspectImage('app:1'));
    expect(missing.code).toBe('ERR_IO');
    expect(isEngineUnreachable(missing)).toBe(true);

    // A socket's file no one listens on (dockerd killed): ECONNREFUSED. A process that listened
    // and was SIGKILLed leaves its file behind, as a crashed dockerd does.
    const dir = mkdtempSync(join(tmpdir(), 'rd-stale-'));
    const stale = join(dir, 's');
    try {
      try {
        execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
      } catch {
        // Killed, as meant.
      }
      expect(existsSync(stale)).toBe(true);
      const refused = await rejection(new DockerEngine({ socketPath: stale }).ping());
      expect(refused.code).toBe('ERR_IO');
      expect(refused.message).toContain('connection refused');
      expect(isEngineUnreachable(refused)).toBe(true);
      // Through a FallbackPullError whose pull met it, too.
      expect(isEngineUnreachable(new FallbackPullError('app:2', new Error('corrupt delta'), refused))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // An engine that closes the connection mid-answer, or before answering, as a dying dockerd does.
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Id":';
    const cut = await fakeEngine((sock) => sock.once('data', () => sock.end(head)));
    const hangUp = await fakeEngine((sock) => sock.once('data', () => sock.destroy())); // "socket hang up"
    const saveCut = await fakeEngine((sock) => sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789')));
    // One that reads a docker load's request and never answers: the archive's source fails.
    const silent = await fakeEngine((sock) => sock.resume());
    try {
      const engine = (socketPath: string) => new DockerEngine({ socketPath, apiVersion: '1.41' });
      const closed = await rejection(engine(cut.socketPath).inspectImage('app:1'));
      expect(closed.code).toBe('ERR_IO');
      expect(isEngineUnreachable(closed)).toBe(true);
      const hungUp = await rejection(engine(hangUp.socketPath).inspectImage('app:1'));
      expect(hungUp.code).toBe('ERR_IO');
      expect(isEngineUnreachable(hungUp)).toBe(true);
      const scratch = mkdtempSync(join(tmpdir(), 'rd-save-'));
      try {
        const saved = await rejection(engine(saveCut.socketPath).saveImagesToFile(['app:1'], join(scratch, 'old.tar')));
        expect(saved.code).toBe('ERR_TRUNCATED'); // as before, and the engine's
        expect(isEngineUnreachable(saved)).toBe(true);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }

      // A local disk error while sending docker load its archive (the scratch folder full) is ERR_IO, not the engine's.
      async function* fullDisk(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(512);
        throw new RolldeltaError('ERR_IO', 'writing the decompressed copy of a layer failed: no space left on device (ENOSPC)');
      }
      const local = await rejection(engine(silent.socketPath).loadImage(fullDisk()));
      expect(local.code).toBe('ERR_IO');
      expect(isEngineUnreachable(local)).toBe(false);
      // Nor a delta cut short, nor a file's read error that is no RolldeltaError.
      async function* truncated(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(512);
        throw new RolldeltaError('ERR_TRUNCATED', 'the image delta ended inside a frame');
      }
      expect(isEngineUnreachable(await rejection(engine(silent.socketPath).loadImage(truncated())))).toBe(false);
      async function* unreadable(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(512);
        throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      }
      const eio = await rejection(engine(silent.socketPath).loadImage(unreadable()));
      expect(eio.code).toBe('ERR_IO');
      expect(isEngineUnreachable(eio)).toBe(false);
    } finally {
      for (const f of [cut, hangUp, saveCut, silent]) await f.close();
    }
    // Not anything else.
    expect(isEngineUnreachable(new RolldeltaError('ERR_IO', 'cannot open old.tar'))).toBe(false);
    expect(isEngineUnreachable(undefined)).toBe(false);
  });

  it('engineWaitMs is checked like the other options', async () => {
    const engine = new DockerEngine({ socketPath: '/tmp/rd-no-such-dir/docker.sock' });
    for (const engineWaitMs of [-1, Number.NaN, '5' as unknown as number]) {
      const e = await rejection(updateImage({ engine, to: 'app:2', deltaUrl: 'http://deltas:8080/delta', engineWaitMs }));
      expect(e.code).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message).toContain('engineWaitMs');
    }
  });
});

const docker = requirePeer('dockerd', dockerdAvailable());
const registry = docker.skip ? docker : requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry'));

describe.skipIf(docker.skip || registry.skip)(`updateImage while dockerd restarts ${docker.message}${registry.message}`, () => {
  let d: Dockerd;
  let reg: { stop(): Promise<void> };
  let http: LoopbackServer;
  let server: DeltaServer;
  let url: string;
  let dir: string;
  let R1: string;
  let R2: string;
  let R2id: string;
  let corrupt = false;
  /** The delta server's answers with a body (200 or 206): each one a download. */
  let downloads = 0;
  let workN = 0;
  /**
   * The test's crash of dockerd and its restart, while under way: afterEach awaits it, so that a
   * test that failed early cannot start dockerd under the next one, or after afterAll's stop().
   */
  let pending: Promise<void> | undefined;

  function handler(req: IncomingMessage, res: ServerResponse): void {
    // Counted as the answer starts: the device may hang up on the last bytes, once they are all in.
    const writeHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      if (status === 200 || status === 206) downloads++;
      return (writeHead as (...a: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    if (corrupt) {
      // The real server's answer, one byte flipped on its way out: the delta fails its checksum.
      holdAnswer(res, (body, real) => {
        if (res.statusCode === 200) body[body.length >> 1] ^= 0x01;
        return real.end(body);
      });
    }
    server.handler(req, res);
  }

  const freshWorkDir = (): string => {
    const w = join(dir, `work-${++workN}`);
    mkdirSync(w, { recursive: true });
    return w;
  };

  const options = (over: Partial<UpdateOptions> = {}): UpdateOptions => ({
    engine: d.engine,
    from: R1,
    to: R2,
    deltaUrl: `${url}/delta`,
    level: 6, // deflate: made and applied in a blink, where 9 would context-mix megabytes
    requestTimeoutMs: 30_000,
    maxBackoffMs: 100,
    retries: 0,
    workDir: freshWorkDir(),
    ...over,
  });

  /** Kills dockerd now (SIGKILL: a crash), and starts it again `downMs` later (never when undefined); kept in `pending`. */
  function crash(downMs: number | undefined): Promise<void> {
    const killed = d.kill('SIGKILL');
    pending = downMs === undefined ? killed : killed.then(() => sleep(downMs)).then(() => d.start());
    return pending;
  }

  /** onProgress that crashes dockerd once docker load is under way (archive bytes flow), restarting it after `downMs` (never when undefined). */
  function crashDuringLoad(events: UpdateEvent[], downMs: number | undefined): { onProgress: (e: UpdateEvent) => void; crashed: () => Promise<void> | undefined; at: () => number } {
    let crashed: Promise<void> | undefined;
    let at = 0;
    return {
      onProgress: (e) => {
        events.push(e);
        if (crashed || e.phase !== 'apply' || (e.bytes ?? 0) === 0) return;
        at = Date.now();
        crashed = crash(downMs);
      },
      crashed: () => crashed,
      at: () => at,
    };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-restart-'));
    d = await startDockerd();
    const port = await freePort();
    reg = await startRegistry(join(dir, 'registry'), port);
    const repo = `localhost:${port}/rd-restart`;
    [R1, R2] = [`${repo}:1`, `${repo}:2`];
    await importBusybox(d.engine, 'rd-base:1');
    const lines = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `line ${i}: ${(i * 2654435761 + seed) % 1000003} ${((i + seed) * 40503) % 65521}`).join('\n');
    await buildApp(d.engine, 'rd-base:1', R1, { 'lib.txt': lines(0, 20000), 'main.txt': 'release 1\n' });
    // 3 MiB of new text: docker load is handed several MiB, so the apply reports bytes mid-load.
    await buildApp(d.engine, 'rd-base:1', R2, { 'lib.txt': lines(0, 20000), 'main.txt': 'release 2\n', 'data.txt': lines(7, 80000) });
    R2id = (await d.engine.inspectImage(R2))!.Id;
    const images = join(dir, 'images');
    mkdirSync(images);
    for (const ref of [R1, R2]) await saveToFile(d.engine, [ref], join(images, `${ref.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`));
    execFileSync('docker', ['-H', `unix://${d.socketPath}`, 'push', R2], { stdio: 'pipe', timeout: 60_000 });
    server = createDeltaServer({ source: archiveDirectory(images), store: new DeltaStore(join(dir, 'store')), retryAfterSeconds: 0, workers: 1 }); // workers: 1 runs from the sources, without a build
    // Made now, so that each test, run alone or after one that failed early, finds it ready.
    await server.generate(R1, R2);
    http = await serveLoopback(handler);
    url = http.url;
  }, 120_000);

  afterAll(async () => {
    await http?.close();
    await server?.close();
    await reg?.stop();
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    corrupt = false;
    downloads = 0;
    await d.start(); // a test that failed may have left it down
    if (await d.engine.hasImage(R2)) await d.engine.removeImage(R2, { force: true });
  });

  afterEach(async () => {
    // Its error is the test's to report (it awaits it), or moot once the test failed.
    await pending?.catch(() => {});
    pending = undefined;
  });

  it('dockerd killed during docker load and back 2 s later: the kept delta is applied again without a download, and nothing is pulled', async () => {
    const events: UpdateEvent[] = [];
    const fault = crashDuringLoad(events, 2000);
    const r = await updateImage(options({ onProgress: fault.onProgress }));
    await fault.crashed();
    expect(fault.at()).toBeGreaterThan(0);
    expect(r).toMatchObject({ action: 'delta', imageId: R2id, from: R1 });
    expect(downloads).toBe(1);
    expect(events.map((e) => e.phase)).not.toContain('fallback');
    // The second apply took the delta the first one left, and rebuilt the image again.
    expect(events.filter((e) => e.phase === 'download' && /nothing to download/.test(e.message ?? ''))).toHaveLength(1);
    expect(events.filter((e) => e.phase === 'apply' && e.message?.startsWith('rebuilding'))).toHaveLength(2);
    // Other waits (none when beforeAll made the delta) would be the server's, while it generates it.
    const waits = events.filter((e) => e.phase === 'waiting' && /Docker Engine/.test(e.message ?? ''));
    expect(waits).toHaveLength(1);
    expect(waits[0].message).toMatch(/unreachable/);
    expect((await d.engine.run(R2, ['cat', '/app/main.txt'])).stdout).toBe('release 2\n');
  });

  it('dockerd down when the fallback pull is due, back 2 s later: the pull waits for it, and says so', async () => {
    corrupt = true;
    const events: UpdateEvent[] = [];
    let crashed: Promise<void> | undefined;
    const r = await updateImage(
      options({
        onProgress: (e) => {
          events.push(e);
          if (e.phase === 'fallback' && !crashed) crashed = crash(2000);
        },
      }),
    );
    await crashed;
    expect(r).toMatchObject({ action: 'pull', imageId: R2id, reason: expect.stringContaining('ERR_CHECKSUM') });
    // The engine's wait, after the fallback began: not the server's 202s, had it still to make the delta.
    const fallback = events.findIndex((e) => e.phase === 'fallback');
    const wait = events.findIndex((e) => e.phase === 'waiting' && /Docker Engine/.test(e.message ?? ''));
    expect(fallback).toBeGreaterThanOrEqual(0);
    expect(wait).toBeGreaterThan(fallback);
    expect(events[wait]!.message).toMatch(/unreachable/);
  });

  it('dockerd that stays down past engineWaitMs: the update fails after about that long, keeping the delta; the next run applies it without downloading', async () => {
    const workDir = freshWorkDir();
    const events: UpdateEvent[] = [];
    const fault = crashDuringLoad(events, undefined);
    const err = await updateImage(options({ workDir, engineWaitMs: 2000, onProgress: fault.onProgress })).catch((e: unknown) => e);
    const waited = Date.now() - fault.at();
    await fault.crashed();
    expect(err).toBeInstanceOf(FallbackPullError);
    expect((err as FallbackPullError).code).toBe('ERR_IO');
    expect(isEngineUnreachable(err)).toBe(true);
    expect(isEngineUnreachable((err as FallbackPullError).deltaError)).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(1900);
    expect(waited).toBeLessThan(8000);
    expect(events.filter((e) => e.phase === 'waiting' && /Docker Engine/.test(e.message ?? ''))).toHaveLength(1); // one wait, not one more before the pull
    const [work] = readdirSync(workDir);
    expect(readdirSync(join(workDir, work))).toContain('update.rdimg');
    expect(downloads).toBe(1);

    await d.start();
    const again: UpdateEvent[] = [];
    const r = await updateImage(options({ workDir, onProgress: (e) => again.push(e) }));
    expect(r).toMatchObject({ action: 'delta', imageId: R2id });
    expect(downloads).toBe(1);
    expect(again.find((e) => e.phase === 'download')?.message).toMatch(/nothing to download/);
    expect(readdirSync(workDir)).toEqual([]);
  });
});
