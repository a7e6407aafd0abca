import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../../src/core/errors.js';
import { DockerEngine } from '../../src/docker/engine.js';
import { ReadRing } from '../../src/image/read-ring.js';
import type { JsonMessage } from '../../src/docker/json-stream.js';
import { dockerdAvailable, missingBinary, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { buildApp, busyboxRootfsTar, importBusybox, saveToFile } from '../helpers/images.js';

async function rejection(p: Promise<unknown>): Promise<RolldeltaError> {
  try {
    await p;
  } catch (e) {
    if (isRolldeltaError(e)) return e;
    throw new Error(`expected a RolldeltaError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected a rejection');
}

/** A fake engine on a unix socket: each connection gets `respond(request text)` written raw. */
async function fakeEngine(respond: (req: string) => string | undefined, keepOpen = false): Promise<{ socketPath: string; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'rd-fake-'));
  const socketPath = join(dir, 's');
  const server: Server = createServer((sock) => {
    let req = '';
    sock.on('data', (d) => {
      req += d.toString('latin1');
      if (!req.includes('\r\n\r\n')) return;
      const answer = respond(req);
      if (answer !== undefined) {
        if (keepOpen) sock.write(answer);
        else sock.end(answer);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    close: async () => {
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const http = (status: string, body: string, type = 'application/json'): string =>
  `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nApi-Version: 1.41\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

describe('DockerEngine without a daemon', () => {
  it('saveImagesToFile reads a chunked answer of any cutting into the file, and refuses a cut or refused one', async () => {
    const body = Buffer.from(new Uint8Array(3 * (1 << 20) + 12345).map((_, i) => (i * 2654435761) >>> 24));
    // Chunks of uneven sizes, the answer written in uneven pieces with pauses between them.
    const chunked = (b: Buffer, cutAt?: number): Buffer => {
      const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n')];
      for (let o = 0, k = 0; o < b.length; k++) {
        const n = Math.min(b.length - o, [1, 70_000, 4096, 333_333, 17][k % 5]!);
        parts.push(Buffer.from(`${n.toString(16)}${k % 3 === 0 ? ';ext=1' : ''}\r\n`), b.subarray(o, o + n), Buffer.from('\r\n'));
        o += n;
      }
      parts.push(Buffer.from('0\r\nX-Trailer: 1\r\n\r\n'));
      const all = Buffer.concat(parts);
      return cutAt === undefined ? all : all.subarray(0, cutAt);
    };
    const dir = await mkdtemp(join(tmpdir(), 'rd-save-'));
    const socketPath = join(dir, 's');
    let answer: Buffer = chunked(body);
    let status = 200;
    const server: Server = createServer((sock) => {
      sock.once('data', async () => {
        if (status !== 200) return void sock.end(http(`${status} Not Found`, '{"message":"No such image: rd:9"}'));
        for (let o = 0, k = 0; o < answer.length; k++) {
          const n = [5, 100_000, 7, 65_536, 1_000_000][k % 5]!;
          sock.write(answer.subarray(o, o + n));
          o += n;
          if (k % 7 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        sock.end();
      });
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(socketPath, r));
    try {
      const engine = new DockerEngine({ socketPath, apiVersion: '1.41' });
      const out = join(dir, 'out.tar');
      expect(await engine.saveImagesToFile(['rd:1'], out)).toBe(body.length);
      expect((await readFile(out)).equals(body)).toBe(true);
      // Through a ring given for it (to share with the apply that follows): the same file, read
      // through that ring's 4 MiB, which holds the (shorter) body when it is done.
      const ring = new ReadRing(1 << 20);
      expect(await engine.saveImagesToFile(['rd:1'], join(dir, 'ring.tar'), { ring })).toBe(body.length);
      expect((await readFile(join(dir, 'ring.tar'))).equals(body)).toBe(true);
      expect(Buffer.from(ring.block().subarray(0, body.length)).equals(body)).toBe(true);
      expect((await rejection(engine.saveImagesToFile(['rd:1'], join(dir, 'small.tar'), { ring: new ReadRing(4096) }))).code).toBe('ERR_INVALID_ARGUMENT');
      answer = chunked(body, 2_000_000);
      const cut = await rejection(engine.saveImagesToFile(['rd:1'], join(dir, 'cut.tar')));
      expect(cut.code).toBe('ERR_TRUNCATED');
      status = 404;
      const refused = await rejection(engine.saveImagesToFile(['rd:9'], join(dir, 'refused.tar')));
      expect(refused.code).toBe('ERR_REMOTE');
      expect(refused.message).toContain('No such image: rd:9');
      expect((refused.cause as { status: number }).status).toBe(404);
      for (const name of ['cut.tar', 'refused.tar']) await expect(stat(join(dir, name))).rejects.toThrow();
      const ac = new AbortController();
      ac.abort();
      expect((await rejection(engine.saveImagesToFile(['rd:1'], join(dir, 'a.tar'), { signal: ac.signal }))).code).toBe('ERR_ABORTED');
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a dead socket is ERR_IO naming the socket and what to do', async () => {
    const e = await rejection(new DockerEngine({ socketPath: '/tmp/rd-no-such-dir/docker.sock' }).ping());
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toContain('/tmp/rd-no-such-dir/docker.sock');
    expect(e.message).toMatch(/start dockerd or set DOCKER_HOST/);
  });

  it("refuses a reference with a . or .. path part before asking: in /images/{ref}/json it would reach another endpoint", async () => {
    const engine = new DockerEngine({ socketPath: '/tmp/rd-no-such-dir/docker.sock' });
    for (const ref of ['../containers/x', 'app/../../info', './app', '/app', 'app//x']) {
      const e = await rejection(engine.inspectImage(ref));
      expect(e.code, ref).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message).toContain(JSON.stringify(ref));
    }
    // A well-formed one gets as far as the (dead) socket.
    expect((await rejection(engine.inspectImage('reg.example:5000/team/app:1.2'))).code).toBe('ERR_IO');
  });

  it('a DOCKER_HOST that is not unix:// is refused clearly', () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:2375';
    try {
      expect(() => new DockerEngine()).toThrow(/unix/);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it("tells containerd's image store from the classic one by /info's DriverStatus", async () => {
    // What Docker 24+ answers with the containerd image store on (not runnable here: Debian's
    // dockerd is 20.10, whose classic store the real-engine tests check).
    const answers: Record<string, string> = {
      containerd: '{"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]]}',
      overlay2: '{"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]]}',
      vfs: '{"Driver":"vfs","DriverStatus":null}',
    };
    for (const [name, body] of Object.entries(answers)) {
      const fake = await fakeEngine((req) => (req.startsWith('GET /_ping') ? http('200 OK', 'OK', 'text/plain') : http('200 OK', body)));
      try {
        expect(await new DockerEngine({ socketPath: fake.socketPath, apiVersion: '1.41' }).storesImagesInContainerd(), name).toBe(name === 'containerd');
      } finally {
        await fake.close();
      }
    }
  });

  it('an engine that never answers is ERR_TIMEOUT', async () => {
    const fake = await fakeEngine(() => undefined);
    try {
      const e = await rejection(new DockerEngine({ socketPath: fake.socketPath, timeoutMs: 200 }).ping());
      expect(e.code).toBe('ERR_TIMEOUT');
    } finally {
      await fake.close();
    }
  });

  it('an engine that stalls in the middle of a progress stream is ERR_TIMEOUT', async () => {
    const fake = await fakeEngine((req) => {
      if (req.startsWith('GET /_ping')) return http('200 OK', 'OK', 'text/plain').replace('Connection: close', 'Connection: keep-alive');
      return 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n15\r\n{"status":"Pulling"}\n\r\n';
    }, true);
    try {
      const seen: unknown[] = [];
      const e = await rejection(new DockerEngine({ socketPath: fake.socketPath, timeoutMs: 300 }).pullImage('app:1', { onProgress: (m) => seen.push(m) }));
      expect(e.code).toBe('ERR_TIMEOUT');
      expect(seen).toEqual([{ status: 'Pulling' }]);
    } finally {
      await fake.close();
    }
  });

  it('HTTP 5xx is ERR_REMOTE with the engine message, and an error inside a 200 stream too', async () => {
    const fake = await fakeEngine((req) => {
      if (req.startsWith('GET /_ping')) return http('200 OK', 'OK', 'text/plain');
      if (req.includes('/images/load')) return http('500 Internal Server Error', '{"message":"disk on fire"}');
      if (req.includes('/images/create')) return http('200 OK', '{"status":"Pulling"}\r\n{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\r\n');
      return http('404 Not Found', '{"message":"page not found"}');
    });
    try {
      const engine = new DockerEngine({ socketPath: fake.socketPath });
      const load = await rejection(engine.loadImage(Readable.from([new Uint8Array(10)])));
      expect(load.code).toBe('ERR_REMOTE');
      expect(load.message).toContain('disk on fire');
      expect((load.cause as { status: number }).status).toBe(500);
      const seen: unknown[] = [];
      const pull = await rejection(engine.pullImage('nope:1', { onProgress: (m) => seen.push(m) }));
      expect(pull.code).toBe('ERR_REMOTE');
      expect(pull.message).toContain('manifest unknown');
      expect(seen).toEqual([{ status: 'Pulling' }]);
    } finally {
      await fake.close();
    }
  });

  it('negotiates down to its own maximum, or up to a newer engine minimum', async () => {
    for (const [server, min, expected] of [['1.52', '1.24', '1.47'], ['1.53', '1.50', '1.50'], ['1.41', '1.12', '1.41']]) {
      const fake = await fakeEngine((req) => {
        if (req.startsWith('GET /_ping')) return http('200 OK', 'OK', 'text/plain').replace('Api-Version: 1.41', `Api-Version: ${server}`);
        if (req.startsWith('GET /version')) return http('200 OK', JSON.stringify({ ApiVersion: server, MinAPIVersion: min }));
        return http('404 Not Found', '{"message":"x"}');
      });
      try {
        expect(await new DockerEngine({ socketPath: fake.socketPath }).ping()).toEqual({ apiVersion: expected });
      } finally {
        await fake.close();
      }
    }
  });

  it('sends X-Registry-Auth as padded base64url JSON and pulls :latest for a bare name', async () => {
    let seen = '';
    const fake = await fakeEngine((req) => {
      if (req.startsWith('GET /_ping')) return http('200 OK', 'OK', 'text/plain');
      seen = req;
      return http('200 OK', '{"status":"Status: Downloaded newer image for localhost:5000/app:latest"}\r\n');
    });
    try {
      const auth = { username: 'u?>', password: 'p~~~', serveraddress: 'localhost:5000' };
      await new DockerEngine({ socketPath: fake.socketPath }).pullImage('localhost:5000/app', { auth });
      expect(seen).toContain('POST /v1.41/images/create?fromImage=localhost%3A5000%2Fapp&tag=latest');
      const header = /x-registry-auth: (\S+)/i.exec(seen)![1];
      expect(header).not.toMatch(/[+/]/);
      expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual(auth);
    } finally {
      await fake.close();
    }
  });
});

const peer = requirePeer('dockerd', dockerdAvailable());
const registry = peer.skip ? peer : requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry') ?? missingBinary('docker', 'docker.io'));

describe.skipIf(peer.skip)(`DockerEngine against a private dockerd ${peer.message}`, () => {
  let d: Dockerd;
  let tmp: string;
  const t0 = Date.now();

  beforeAll(async () => {
    d = await startDockerd();
    tmp = await mkdtemp(join(tmpdir(), 'rd-engine-'));
    console.log(`dockerd started in ${d.startMs} ms`);
  });

  afterAll(async () => {
    await d?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
    console.log(`docker engine tests took ${Date.now() - t0} ms in all`);
  });

  it('ping negotiates the engine API version (1.41 on Debian 20.10)', async () => {
    const { apiVersion } = await d.engine.ping();
    expect(apiVersion).toMatch(/^1\.\d+$/);
    if (process.env.CI !== 'true') expect(apiVersion).toBe('1.41');
  });

  it('inspect of a missing image is undefined', async () => {
    expect(await d.engine.inspectImage('rolldelta-missing:none')).toBeUndefined();
    expect(await d.engine.hasImage('rolldelta-missing:none')).toBe(false);
  });

  it('imports busybox, builds with COPY and RUN, inspects, runs with network none', async () => {
    const baseId = await importBusybox(d.engine, 'rd-busybox:test');
    expect(baseId).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Same rootfs bytes, same layer: the helper is deterministic.
    expect((await d.engine.inspectImage('rd-busybox:test'))?.RootFS?.Layers).toHaveLength(1);

    const appId = await buildApp(d.engine, 'rd-busybox:test', 'rd-app:1', { 'app/a.txt': 'version 1\n' }, 'COPY app /app\nRUN echo hi > /x');
    const img = await d.engine.inspectImage('rd-app:1');
    expect(img?.Id).toBe(appId);
    expect(img?.RepoTags).toContain('rd-app:1');
    expect(img?.RootFS?.Type).toBe('layers');
    expect(img?.RootFS?.Layers).toHaveLength(3);

    const cat = await d.engine.run('rd-app:1', ['cat', '/x', '/app/a.txt'], { networkMode: 'none' });
    expect(cat).toEqual({ exitCode: 0, stdout: 'hi\nversion 1\n', stderr: '' });
    const failing = await d.engine.run('rd-app:1', ['sh', '-c', 'echo oops >&2; exit 7']);
    expect(failing).toEqual({ exitCode: 7, stdout: '', stderr: 'oops\n' });
  });

  it('a failing RUN step rejects the build with ERR_REMOTE quoting the engine', async () => {
    const e = await rejection(buildApp(d.engine, 'rd-busybox:test', 'rd-bad:1', {}, 'RUN exit 3'));
    expect(e.code).toBe('ERR_REMOTE');
    expect(e.message).toMatch(/non-zero code: 3/);
  });

  it('saves to a file, removes, loads it back, tags', async () => {
    const file = join(tmp, 'app.tar');
    const bytes = await saveToFile(d.engine, ['rd-app:1'], file);
    expect(bytes).toBeGreaterThan(busyboxRootfsTar().length);
    expect((await stat(file)).size).toBe(bytes);
    // The same archive read off the socket into reused buffers.
    const direct = join(tmp, 'app-direct.tar');
    expect(await d.engine.saveImagesToFile(['rd-app:1'], direct)).toBe(bytes);
    expect((await readFile(direct)).equals(await readFile(file))).toBe(true);
    const missing = await rejection(d.engine.saveImagesToFile(['rd-missing:1'], join(tmp, 'never.tar')));
    expect(missing.code).toBe('ERR_REMOTE');
    await expect(stat(join(tmp, 'never.tar'))).rejects.toThrow();
    const id = (await d.engine.inspectImage('rd-app:1'))!.Id;

    await d.engine.removeImage('rd-app:1');
    expect(await d.engine.hasImage('rd-app:1')).toBe(false);
    const gone = await rejection(d.engine.removeImage('rd-app:1'));
    expect(gone.code).toBe('ERR_REMOTE');
    expect((gone.cause as { status: number }).status).toBe(404);

    const progress: object[] = [];
    const { loaded } = await d.engine.loadImage(createReadStream(file), { onProgress: (m) => progress.push(m) });
    expect(loaded).toEqual(['rd-app:1']);
    expect(progress.length).toBeGreaterThan(0);
    expect((await d.engine.inspectImage('rd-app:1'))?.Id).toBe(id);

    await d.engine.tagImage('rd-app:1', 'rd-app', 'again');
    expect((await d.engine.inspectImage('rd-app:again'))?.Id).toBe(id);
    const tagMissing = await rejection(d.engine.tagImage('rd-missing:1', 'x', 'y'));
    expect(tagMissing.code).toBe('ERR_REMOTE');

    // An untagged image loads as its ID.
    const bare = join(tmp, 'bare.tar');
    await saveToFile(d.engine, [id], bare);
    await d.engine.removeImage(id, { force: true });
    expect((await d.engine.loadImage(createReadStream(bare))).loaded).toEqual([id]);
  });

  it('a load of garbage rejects with ERR_REMOTE', async () => {
    const garbage = new Uint8Array(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24;
    const e = await rejection(d.engine.loadImage(Readable.from([garbage])));
    expect(e.code).toBe('ERR_REMOTE');
    expect(e.message).toMatch(/docker load/);
  });

  it('a failing upload source rejects with its own error; an aborted load with ERR_ABORTED', async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(4096);
      throw new RolldeltaError(ErrorCode.CHECKSUM, 'layer digest mismatch');
    }
    const e = await rejection(d.engine.loadImage(broken()));
    expect(e.code).toBe('ERR_CHECKSUM');

    const ac = new AbortController();
    let closed = false;
    async function* slow(): AsyncGenerator<Uint8Array> {
      try {
        yield new Uint8Array(4096);
        ac.abort();
        await new Promise((r) => setTimeout(r, 50));
        yield new Uint8Array(4096);
        yield new Uint8Array(4096);
      } finally {
        closed = true;
      }
    }
    const aborted = await rejection(d.engine.loadImage(slow(), { signal: ac.signal }));
    expect(aborted.code).toBe('ERR_ABORTED');
    // The request's end closes its source (whose finally would close files), not left suspended.
    await vi.waitFor(() => expect(closed).toBe(true), { timeout: 5000 });
    // The engine is still fine afterwards.
    expect(await d.engine.hasImage('rd-busybox:test')).toBe(true);
  });

  it.skipIf(registry.skip)(`pulls from a loopback registry ${registry.message}`, async () => {
    const port = await freePort();
    const reg = await startRegistry(join(tmp, 'registry'), port);
    try {
      const ref = `localhost:${port}/rd-busybox:pushed`;
      await d.engine.tagImage('rd-busybox:test', `localhost:${port}/rd-busybox`, 'pushed');
      execFileSync('docker', ['-H', `unix://${d.socketPath}`, 'push', ref], { stdio: 'pipe', timeout: 60_000 });
      const id = (await d.engine.inspectImage(ref))!.Id;
      await d.engine.removeImage(ref);
      expect(await d.engine.hasImage(ref)).toBe(false);
      const progress: JsonMessage[] = [];
      // The registry needs no credentials and ignores them; the header encoding is checked against the fake engine.
      await d.engine.pullImage(ref, { auth: { username: 'u', password: 'p', serveraddress: `localhost:${port}` }, onProgress: (m) => progress.push(m) });
      expect((await d.engine.inspectImage(ref))?.Id).toBe(id);
      expect(progress.some((m) => typeof m.status === 'string' && m.status.startsWith('Status:'))).toBe(true);
      const missing = await rejection(d.engine.pullImage(`localhost:${port}/rd-nothing:1`));
      expect(missing.code).toBe('ERR_REMOTE');
    } finally {
      await reg.stop();
    }
  });

  it('a stopped daemon is ERR_IO', async () => {
    const engine = new DockerEngine({ socketPath: d.socketPath, apiVersion: '1.41' });
    await d.stop();
    const e = await rejection(engine.inspectImage('rd-app:1'));
    expect(e.code).toBe('ERR_IO');
  });
});
