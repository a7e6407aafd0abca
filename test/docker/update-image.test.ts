// The device update flow end to end: a real Docker Engine, a delta server over real HTTP on
// loopback, and a local docker-registry for the fallback pull. Faults are injected by wrapping
// the server's handler (a cut connection, a flipped byte, answers of 202): real HTTP, real engine.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeltaStore, DockerEngine, DownloadLimiter, FallbackPullError, archiveDirectory, createDeltaServer, isRolldeltaError, sameRepositoryNewest, updateImage, type DeltaServer, type UpdateEvent, type UpdateOptions } from '../../src/index.js';
import { dockerdAvailable, missingBinary, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildApp, importBusybox, saveToFile } from '../helpers/images.js';
import { holdAnswer, serveLoopback, type LoopbackServer } from '../helpers/loopback-http.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const docker = requirePeer('dockerd', dockerdAvailable());
const registry = docker.skip ? docker : requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry'));

type Fault = 'none' | 'pending3' | 'cut' | 'corrupt';

describe.skipIf(docker.skip || registry.skip)(`updateImage with a real engine, server and registry ${docker.message}${registry.message}`, () => {
  let d: Dockerd;
  let reg: { stop(): Promise<void> };
  let http: LoopbackServer;
  let server: DeltaServer;
  let url: string;
  let dir: string;
  let R1: string;
  let R2: string;
  let R0: string;
  let repo: string;
  let fault: Fault = 'none';
  let requests: Array<{ url?: string; range?: string; status?: number }> = [];

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const seen: { url?: string; range?: string; status?: number } = { url: req.url, range: req.headers.range };
    requests.push(seen);
    const pending = requests.filter((r) => r.status === 202).length;
    if (fault === 'pending3' && pending < 3) {
      seen.status = 202;
      res.writeHead(202, { 'retry-after': '0' }).end();
      return;
    }
    if ((fault === 'cut' && !req.headers.range) || fault === 'corrupt') {
      // Let the real server answer into a buffer, then damage the answer on the way out.
      holdAnswer(res, (body, real) => {
        seen.status = res.statusCode;
        if (res.statusCode !== 200) return real.end(body);
        if (fault === 'corrupt') {
          body[body.length >> 1] ^= 0x01;
          return real.end(body);
        }
        real.write(body.subarray(0, body.length >> 1));
        setTimeout(() => res.destroy(), 20);
        return res;
      });
    }
    server.handler(req, res);
  }

  const options = (over: Partial<UpdateOptions> = {}): UpdateOptions => ({
    engine: d.engine,
    from: R1,
    to: R2,
    deltaUrl: `${url}/delta`,
    requestTimeoutMs: 30_000,
    maxBackoffMs: 100,
    retries: 3,
    retryIntervalMs: 50,
    ...over,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-update-'));
    d = await startDockerd();
    const port = await freePort();
    reg = await startRegistry(join(dir, 'registry'), port);
    repo = `localhost:${port}/rd-upd`;
    [R0, R1, R2] = [`${repo}:0`, `${repo}:1`, `${repo}:2`];
    await importBusybox(d.engine, 'rd-base:1');
    const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
    const recipe = 'COPY . /app/\nRUN echo built > /built.txt';
    await buildApp(d.engine, 'rd-base:1', R0, { 'other.txt': 'an unrelated release\n' }, recipe);
    await buildApp(d.engine, 'rd-base:1', R1, { 'lib.txt': lines, 'main.txt': 'release 1\n' }, recipe);
    await buildApp(d.engine, 'rd-base:1', R2, { 'lib.txt': lines, 'main.txt': 'release 2\n' }, recipe);
    const images = join(dir, 'images');
    execFileSync('mkdir', ['-p', images]);
    const file = (ref: string) => join(images, `${ref.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`);
    for (const ref of [R0, R1, R2]) await saveToFile(d.engine, [ref], file(ref));
    // The server believes `…:wrong` is release 0; the device's `…:wrong` is release 1.
    copyFileSync(file(R0), file(`${repo}:wrong`));
    // The server has `…:unpushed` (release 2 again); the registry does not: its pull fails.
    copyFileSync(file(R2), file(`${repo}:unpushed`));
    await d.engine.tagImage(R1, repo, 'wrong');
    execFileSync('docker', ['-H', `unix://${d.socketPath}`, 'push', R2], { stdio: 'pipe', timeout: 60_000 });
    server = createDeltaServer({ source: archiveDirectory(images), store: new DeltaStore(join(dir, 'store')), retryAfterSeconds: 0 });
    http = await serveLoopback(handler);
    url = http.url;
  }, 240_000);

  afterAll(async () => {
    await http?.close();
    await reg?.stop();
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    fault = 'none';
    requests = [];
    if (await d.engine.hasImage(R2)) await d.engine.removeImage(R2, { force: true });
  });

  async function runsRelease2(): Promise<void> {
    const run = await d.engine.run(R2, ['cat', '/app/main.txt']);
    expect(run.stdout).toBe('release 2\n');
  }

  it('updates by delta, and the new image runs; a second call has nothing to do', async () => {
    const events: UpdateEvent[] = [];
    const r = await updateImage(options({ onProgress: (e) => events.push(e) }));
    expect(r.action).toBe('delta');
    expect(r.from).toBe(R1);
    expect(r.reason).toBeUndefined();
    expect(events.map((e) => e.phase)).toContain('download');
    // The apply reports the archive handed to docker load, growing, to its end.
    const applied = events.filter((e) => e.phase === 'apply' && e.bytes !== undefined).map((e) => e.bytes!);
    expect(applied.length).toBeGreaterThan(0);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
    expect(applied.at(-1)).toBeGreaterThan(10_000);
    await runsRelease2();
    expect((await updateImage(options())).action).toBe('none');
  });

  it("into an engine with containerd's image store, or one whose /info is refused, hands docker load every layer (the classic store: only the new ones)", async () => {
    expect(await d.engine.storesImagesInContainerd()).toBe(false); // Debian's Docker 20.10: the classic store
    // No engine with containerd's store runs here (Debian's dockerd is 20.10): this is the real
    // engine saying it has that store, to see what the update then hands its docker load.
    class Counting extends DockerEngine {
      bytes = 0;
      constructor(private readonly containerd: boolean | 'refused') {
        super({ socketPath: d.socketPath, timeoutMs: 30_000 });
      }
      override storesImagesInContainerd(): Promise<boolean> {
        // 'refused': a socket proxy that allows the image endpoints and not /info.
        if (this.containerd === 'refused') return Promise.reject(new Error('the Docker Engine answered 403 to GET /info'));
        return Promise.resolve(this.containerd);
      }
      override loadImage(archive: AsyncIterable<Uint8Array>, opts?: Parameters<DockerEngine['loadImage']>[1]) {
        const counted = async function* (self: Counting) {
          for await (const c of archive) {
            self.bytes += c.length;
            yield c;
          }
        };
        return super.loadImage(counted(this), opts);
      }
    }
    const oldLayers = (await d.engine.inspectImage(R1))!.Size!;
    const sizes: number[] = [];
    for (const containerd of [false, true, 'refused'] as const) {
      if (await d.engine.hasImage(R2)) await d.engine.removeImage(R2, { force: true });
      const engine = new Counting(containerd);
      expect((await updateImage(options({ engine }))).action).toBe('delta');
      await runsRelease2();
      sizes.push(engine.bytes);
    }
    expect(sizes[0]).toBeLessThan(oldLayers / 2);
    expect(sizes[1]).toBeGreaterThan(oldLayers);
    expect(sizes[2]).toBe(sizes[1]); // every layer: both stores load that
  });

  it('pulls an image asked for by digest at once: docker load gives tags, so the delta could not be checked', async () => {
    const port = repo.split(':')[1].split('/')[0];
    const res = await fetch(`http://localhost:${port}/v2/rd-upd/manifests/2`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    const to = `${repo}@${res.headers.get('docker-content-digest')!}`;
    // The server has it: before, the delta was downloaded and loaded, and `to` then not found.
    const images = join(dir, 'images');
    copyFileSync(join(images, `${R2.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`), join(images, `${to.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`));
    const r = await updateImage(options({ to, from: R1 }));
    expect(r).toMatchObject({ action: 'pull', from: R1, reason: expect.stringContaining('ERR_UNSUPPORTED') });
    expect(requests).toEqual([]);
    expect((await d.engine.inspectImage(to))!.Id).toBe(r.imageId);
  });

  it('asks the server for the level it is given, and gets a delta made at it', async () => {
    const r = await updateImage(options({ level: 6 }));
    expect(r.action).toBe('delta');
    expect(requests.length).toBeGreaterThan(0);
    for (const q of requests) expect(new URL(q.url!, url).searchParams.get('level')).toBe('6');
    const store = new DeltaStore(join(dir, 'store'));
    expect(statSync(store.pathFor(R1, R2, 6)).size).toBe(r.deltaBytes);
    await runsRelease2();
    await expect(updateImage(options({ level: 10 }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('tags only the image it asked for, whatever other tags the delta lists', async () => {
    // The server's archive of `…:tagged` (release 2) also tags rd-victim:1, which the device has as another image.
    const to = `${repo}:tagged`;
    const archive = (ref: string) => join(dir, 'images', `${ref.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`);
    execFileSync('docker', ['-H', `unix://${d.socketPath}`, 'load', '-i', archive(R2)], { stdio: 'pipe', timeout: 60_000 });
    await d.engine.tagImage(R2, repo, 'tagged');
    await d.engine.tagImage(R2, 'rd-victim', '1');
    await saveToFile(d.engine, [to, 'rd-victim:1'], archive(to));
    await d.engine.removeImage(to);
    await d.engine.tagImage('rd-base:1', 'rd-victim', '1');
    await d.engine.removeImage(R2, { force: true });
    const victim = (await d.engine.inspectImage('rd-victim:1'))!.Id;
    const r = await updateImage(options({ to }));
    expect(r.action).toBe('delta');
    expect((await d.engine.inspectImage('rd-victim:1'))!.Id).toBe(victim);
    expect((await d.engine.inspectImage(to))!.Id).toBe(r.imageId);
  });

  it('waits for a server that first answers 202 three times', async () => {
    fault = 'pending3';
    const r = await updateImage(options());
    expect(r.action).toBe('delta');
    expect(requests.filter((q) => q.status === 202)).toHaveLength(3);
    await runsRelease2();
  });

  it('resumes a download cut at half with a Range request', async () => {
    fault = 'cut';
    const r = await updateImage(options());
    expect(r.action).toBe('delta');
    expect(requests.some((q) => q.range?.startsWith('bytes='))).toBe(true);
    await runsRelease2();
  });

  it('an update stopped mid-download (device off) resumes its download next time, then cleans up', async () => {
    const workDir = join(dir, 'work');
    execFileSync('mkdir', ['-p', workDir]);
    // The server sends half the delta; the device goes off as it lands.
    fault = 'cut';
    const ac = new AbortController();
    const stopped = updateImage(options({ workDir, signal: ac.signal, onProgress: (e) => void (e.phase === 'download' && (e.bytes ?? 0) > 0 && ac.abort()) }));
    await expect(stopped).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const [work] = readdirSync(workDir);
    expect(work).toMatch(/^rolldelta-update-[0-9a-f]{16}$/);
    const part = statSync(join(workDir, work, 'update.rdimg.part')).size;
    expect(part).toBeGreaterThan(0);
    fault = 'none';
    requests = [];
    const r = await updateImage(options({ workDir }));
    expect(r.action).toBe('delta');
    expect(requests.map((q) => q.range)).toContain(`bytes=${part}-`);
    expect(readdirSync(workDir)).toEqual([]);
    await runsRelease2();
  });

  it('falls back to a pull on a corrupted delta, with the reason', async () => {
    fault = 'corrupt';
    const r = await updateImage(options({ retries: 0 }));
    expect(r.action).toBe('pull');
    expect(r.reason).toContain('ERR_CHECKSUM');
    await runsRelease2();
  });

  it('falls back to a pull when the delta was made for another old image', async () => {
    const r = await updateImage(options({ from: R1.replace(/:1$/, ':wrong') }));
    expect(r.action).toBe('pull');
    expect(r.from).toBe(R1.replace(/:1$/, ':wrong'));
    expect(r.reason).toContain('ERR_BASIS_MISMATCH');
    await runsRelease2();
  });

  it('rebuilds from the image it checked the delta against, though its tag moved or was removed meanwhile; one removed for good is said to be', async () => {
    const cli = (...args: string[]) => execFileSync('docker', ['-H', `unix://${d.socketPath}`, ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 60_000 }).trim();
    const id = (await d.engine.inspectImage(R1))!.Id;
    /** An update that runs `fault` once the delta arrives, before the old image is saved. */
    const during = (fault: () => void) => {
      let done = false;
      return updateImage(options({ onProgress: (e) => void (e.phase === 'download' && !done && ((done = true), fault())) }));
    };
    const container = cli('run', '-d', '--network', 'none', R1, 'sleep', '600');
    try {
      // The tag moved to another image: before, that image was saved and the delta refused.
      const moved = await during(() => cli('tag', 'rd-base:1', R1));
      expect(moved).toMatchObject({ action: 'delta', from: R1 });
      await runsRelease2();
      cli('tag', id, R1);
      // `rmi -f` of an image a container runs removes its tag alone: before, the save found nothing.
      await d.engine.removeImage(R2, { force: true });
      const untagged = await during(() => cli('rmi', '-f', R1));
      expect(untagged).toMatchObject({ action: 'delta', from: R1 });
      await runsRelease2();
      expect(cli('inspect', '-f', '{{.State.Running}} {{.Image}}', container)).toBe(`true ${id}`);
      cli('tag', id, R1);
    } finally {
      cli('rm', '-f', container);
    }
    // Removed for good (no container left): a pull, whose reason says so.
    await d.engine.removeImage(R2, { force: true });
    const gone = await during(() => cli('rmi', '-f', id));
    expect(gone.action).toBe('pull');
    expect(gone.reason).toContain(`${R1} (${id}) was removed from the engine during the update`);
    await runsRelease2();
    cli('load', '-i', join(dir, 'images', `${R1.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`));
    await d.engine.tagImage(R1, repo, 'wrong'); // removed with the image, and used by later tests
    expect((await d.engine.inspectImage(R1))?.Id).toBe(id);
  });

  it('picks the basis with a policy over the engine\'s images, and bounds concurrent downloads', async () => {
    const chosen: string[][] = [];
    const limiter = new DownloadLimiter(1);
    const r = await updateImage(
      options({
        from: (images) => {
          chosen.push(images.flatMap((i) => i.RepoTags));
          return images.some((i) => i.RepoTags.includes(R1)) ? R1 : undefined;
        },
        limiter,
      }),
    );
    expect(r.action).toBe('delta');
    expect(r.from).toBe(R1);
    expect(chosen[0]).toContain(R1);
    await runsRelease2();
  });

  it('falls back to a pull when the server is dead', async () => {
    const dead = await freePort();
    const r = await updateImage(options({ deltaUrl: `http://127.0.0.1:${dead}/delta`, retries: 1 }));
    expect(r.action).toBe('pull');
    expect(r.reason).toContain('cannot reach the delta server');
    await runsRelease2();
  });

  it('gives up on a delta server that accepts and never answers after idleTimeoutMs, and pulls', async () => {
    const silent = createNetServer(() => {}); // holds every connection open, says nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const r = await updateImage(options({ deltaUrl: `http://127.0.0.1:${port}/delta`, retries: 1, idleTimeoutMs: 200 }));
      expect(r.action).toBe('pull');
      expect(r.reason).toContain('nothing arrived for 200 ms');
      await runsRelease2();
    } finally {
      silent.close();
    }
  });

  it('reports no basis when the policy finds none, and pulls', async () => {
    const r = await updateImage(options({ from: () => undefined }));
    expect(r.action).toBe('pull');
    expect(r.from).toBeUndefined();
    expect(r.reason).toContain('no local image can serve as the basis');
  });

  /** A fresh work directory under the test's own. */
  const freshWorkDir = (() => {
    let n = 0;
    return () => {
      const w = join(dir, `work-${++n}`);
      mkdirSync(w, { recursive: true });
      return w;
    };
  })();

  /** The folder of an update from R1 to R2 through `deltaUrl` in a work directory (named after the delta's URL). */
  const pairFolder = (deltaUrl: string) =>
    `rolldelta-update-${createHash('sha256').update(`${deltaUrl}?from=${encodeURIComponent(R1)}&to=${encodeURIComponent(R2)}`).digest('hex').slice(0, 16)}`;

  /**
   * An update stopped by an abort as its apply began, in a fresh work directory: the whole delta is
   * kept there (`work`, the pair's folder). Its image is one the registry lacks, so a pull fails
   * and the work directory shows what was kept.
   */
  async function keptDeltaRun(): Promise<{ workDir: string; to: string; work: string }> {
    const workDir = freshWorkDir();
    const to = `${repo}:unpushed`;
    const ac = new AbortController();
    await expect(updateImage(options({ to, workDir, signal: ac.signal, beforeJavaScriptWork: () => ac.abort() }))).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const [work] = readdirSync(workDir);
    return { workDir, to, work };
  }

  it('two updates of the same images at once: the second waits for the first, then has nothing to do', async () => {
    const workDir = freshWorkDir();
    const phases: Record<string, string[]> = { a: [], b: [] };
    const one = (n: 'a' | 'b') => updateImage(options({ workDir, onProgress: (e) => phases[n].push(e.phase) }));
    const [a, b] = await Promise.all([one('a'), one('b')]);
    // Either may get there first.
    const [first, second] = a.action === 'delta' ? ['a', 'b'] as const : ['b', 'a'] as const;
    const results = { a, b };
    expect(results[first].action).toBe('delta');
    expect(results[second].action).toBe('none');
    expect(results[second].imageId).toBe(results[first].imageId);
    expect(phases[second]).toEqual(['waiting']);
    expect(readdirSync(workDir)).toEqual([]);
    await runsRelease2();
  });

  it('two updates at once through a symlink to the same work directory: still one at a time', async () => {
    const workDir = freshWorkDir();
    symlinkSync(workDir, `${workDir}-link`);
    const [a, b] = await Promise.all([updateImage(options({ workDir })), updateImage(options({ workDir: `${workDir}-link` }))]);
    expect([a.action, b.action].sort()).toEqual(['delta', 'none']);
    expect(requests.filter((r) => r.range !== undefined)).toEqual([]); // neither resumed the other's part
    await runsRelease2();
  });

  it('a lock left before a reboot is taken over at once, though its pid is alive now', async () => {
    const workDir = freshWorkDir();
    const deltaUrl = `${url}/delta`;
    const name = pairFolder(deltaUrl);
    mkdirSync(join(workDir, name));
    // pid 1 is alive (this container's init); the boot ID is not this boot's.
    writeFileSync(join(workDir, name, 'lock'), '1 0b7c5ed2-0000-4000-8000-000000000000 abcdef');
    const phases: string[] = [];
    const r = await updateImage(options({ workDir, onProgress: (e) => phases.push(e.phase) }));
    expect(r.action).toBe('delta');
    expect(phases).not.toContain('waiting');
    await runsRelease2();
  });

  it('waits while another live process holds the work directory\'s lock, and takes it over once that process is gone', async () => {
    const workDir = freshWorkDir();
    const deltaUrl = `${url}/delta`;
    const name = pairFolder(deltaUrl);
    const lock = join(workDir, name, 'lock');
    mkdirSync(join(workDir, name));
    // Another process takes the lock as updateImage does: an exclusive create holding its pid.
    const holder = spawn(process.execPath, ['-e', "require('fs').writeFileSync(process.argv[1], String(process.pid), { flag: 'wx' }); setInterval(() => {}, 1000)", lock], { stdio: 'ignore' });
    try {
      while (!existsSync(lock) || readFileSync(lock, 'utf8') === '') await new Promise((r) => setTimeout(r, 20));
      expect(readFileSync(lock, 'utf8')).toBe(String(holder.pid));
      // Waited for, until the caller aborts.
      const ac = new AbortController();
      const waits: UpdateEvent[] = [];
      const aborted = updateImage(options({ workDir, signal: ac.signal, onProgress: (e) => void (e.phase === 'waiting' && (waits.push(e), setTimeout(() => ac.abort(), 300))) }));
      await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(waits[0]?.message).toContain(`pid ${holder.pid}`);
      expect(requests).toEqual([]);
      expect(readFileSync(lock, 'utf8')).toBe(String(holder.pid));
      // Then the holder dies (SIGKILL: its lock stays): the next update takes the lock over.
      let waited = false;
      const next = updateImage(options({ workDir, onProgress: (e) => void (e.phase === 'waiting' && !waited && ((waited = true), holder.kill('SIGKILL'))) }));
      const r = await next;
      expect(waited).toBe(true);
      expect(r.action).toBe('delta');
      expect(readdirSync(workDir)).toEqual([]);
      await runsRelease2();
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('when the fallback pull fails too, throws an error carrying both failures, and keeps no delta that failed to apply', async () => {
    const workDir = freshWorkDir();
    const to = `${repo}:unpushed`;
    const err = await updateImage(options({ from: `${repo}:wrong`, to, workDir })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FallbackPullError);
    const e = err as FallbackPullError;
    expect(isRolldeltaError(e)).toBe(true);
    expect(e.code).toBe('ERR_REMOTE');
    expect(e.message).toMatch(new RegExp(`^the delta update failed: .*\\(ERR_BASIS_MISMATCH\\); the fallback pull of ${to} failed too: .*\\(ERR_REMOTE\\)$`));
    expect(e.deltaError).toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
    expect(e.pullError).toMatchObject({ code: 'ERR_REMOTE' });
    expect(e.cause).toBe(e.pullError);
    // The delta was downloaded, then refused: nothing of it is worth keeping.
    expect(requests.length).toBeGreaterThan(0);
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('an abort during the apply stops it (ERR_ABORTED, no image); the next run applies the kept delta without downloading it again', async () => {
    const workDir = freshWorkDir();
    const ac = new AbortController();
    let hooked = false;
    const stopped = updateImage(
      options({
        workDir,
        signal: ac.signal,
        // Called by the patch, in the middle of the apply.
        beforeJavaScriptWork: () => {
          hooked = true;
          ac.abort();
        },
      }),
    );
    await expect(stopped).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(hooked).toBe(true);
    expect(await d.engine.hasImage(R2)).toBe(false);
    const [work] = readdirSync(workDir);
    expect(readdirSync(join(workDir, work))).toEqual(['update.rdimg']);
    requests = [];
    const events: UpdateEvent[] = [];
    const r = await updateImage(options({ workDir, onProgress: (e) => events.push(e) }));
    expect(r.action).toBe('delta');
    expect(requests).toEqual([]);
    expect(events.find((e) => e.phase === 'download')?.message).toContain('nothing to download');
    expect(readdirSync(workDir)).toEqual([]);
    await runsRelease2();
  });

  it('a kept delta found damaged when applied is deleted, not kept for the next run', async () => {
    const { workDir, to, work } = await keptDeltaRun();
    const kept = join(workDir, work, 'update.rdimg');
    const bytes = readFileSync(kept);
    bytes[bytes.length - 64] ^= 0x10;
    writeFileSync(kept, bytes);
    const err = await updateImage(options({ to, workDir })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FallbackPullError);
    expect((err as FallbackPullError).deltaError).toMatchObject({ code: expect.stringMatching(/^ERR_(CHECKSUM|CORRUPT)$/) });
    expect(readdirSync(workDir)).toEqual([]);
  });

  it('after a run killed during the apply, the next takes its lock over, removes what it left but the delta, and applies that; a timeout keeps it too', async () => {
    const { workDir, to, work } = await keptDeltaRun();
    // What a kill during the apply leaves besides the delta: its lock and the old image's archive.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(join(workDir, work, 'lock'), String(dead));
    writeFileSync(join(workDir, work, '.old.tar.0123456789ab.tmp'), 'half an archive');
    requests = [];
    const err = await updateImage(options({ to, workDir, applyTimeoutMs: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FallbackPullError);
    expect((err as FallbackPullError).deltaError).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(requests).toEqual([]);
    expect(readdirSync(join(workDir, work))).toEqual(['update.rdimg']);
  });

  it('refuses options that cannot work at once, with no request and no fallback pull', async () => {
    const bad: Array<Partial<UpdateOptions>> = [
      { deltaUrl: '127.0.0.1:1/delta' },
      { deltaUrl: 'ftp://127.0.0.1/delta' },
      { retries: -1 },
      { retries: 1.5 },
      { retryIntervalMs: NaN },
      { requestTimeoutMs: -1 },
      { maxBackoffMs: Infinity },
      { applyTimeoutMs: -5 },
      { applyTimeoutMs: 0 },
      { applyTimeoutMs: 2 ** 31 },
      { idleTimeoutMs: -1 },
      { from: '' },
      { from: 'app 1' },
      { workDir: '' },
    ];
    for (const over of bad) {
      const phases: string[] = [];
      const t0 = Date.now();
      const err = await updateImage(options({ ...over, onProgress: (e) => phases.push(e.phase) })).catch((e: unknown) => e);
      expect(err, JSON.stringify(over)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(phases).toEqual([]);
    }
    expect(requests).toEqual([]);
    expect(await d.engine.hasImage(R2)).toBe(false);
  });
});

describe('basis policy and download limiter', () => {
  it('sameRepositoryNewest picks the newest image of the same repository', () => {
    const images = [
      { Id: 'a', RepoTags: ['reg/app:1'], Created: 10, Size: 1 },
      { Id: 'b', RepoTags: ['reg/app:3', 'other:9'], Created: 30, Size: 1 },
      { Id: 'c', RepoTags: ['reg/other:5'], Created: 50, Size: 1 },
    ];
    expect(sameRepositoryNewest(images, 'reg/app:4')).toBe('reg/app:3');
    expect(sameRepositoryNewest(images, 'reg/none:1')).toBeUndefined();
  });

  it('DownloadLimiter never runs more than its maximum at once', async () => {
    const limiter = new DownloadLimiter(2);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        limiter.run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 10));
          running--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(() => new DownloadLimiter(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('DownloadLimiter: an abort while waiting for a slot ends the wait at once and gives the place up', async () => {
    const limiter = new DownloadLimiter(1);
    let release!: () => void;
    const busy = limiter.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    let told = 0;
    const waiting = limiter.run(async () => 'never', { signal: ac.signal, onWait: () => told++ });
    const next = limiter.run(async () => 'next');
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(told).toBe(1);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    release();
    await busy;
    expect(await next).toBe('next');
  });
});
