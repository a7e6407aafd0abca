// RegistryClient against Debian's docker-registry on loopback, filled by skopeo: Docker and
// OCI-format manifests, a multi-platform index, blobs with Range. The Bearer challenge needs a
// token service, which Debian's registry does not ship: a small in-test front answers the
// challenge and proxies to the real registry (a mock, for that one fault only).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, ImageArchive, RegistryClient, applyImageDelta, createDeltaServer, registryArchives } from '../../src/index.js';
import { dockerLegacyTar, fixtureImage, ociLayoutTar, tarBytes } from '../helpers/image-fixtures.js';
import { cliPath, ensureBuilt } from '../helpers/cli.js';
import { missingBinary, requirePeer } from '../helpers/peers.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const registry = requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry'));
const skopeo = registry.skip ? registry : requirePeer('skopeo', missingBinary('skopeo', 'skopeo'));

describe.skipIf(registry.skip || skopeo.skip)(`RegistryClient ${registry.message}${skopeo.message}`, () => {
  let dir: string;
  let reg: { stop(): Promise<void> };
  let base: string;
  let front: Server;
  const image = fixtureImage([tarBytes([{ type: 'file', name: 'hello.txt', data: 'hello\n'.repeat(5000) }])], { repoTags: ['app:1'] });
  // Two releases of an app for the delta server: a shared base layer, the app layer edited.
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
  const baseLayer = tarBytes([{ type: 'file', name: 'lib.txt', data: lines }]);
  const v1 = fixtureImage([baseLayer, tarBytes([{ type: 'file', name: 'main.txt', data: `${lines}\nrelease 1` }])], { repoTags: ['rel:1'] });
  const v2 = fixtureImage([baseLayer, tarBytes([{ type: 'file', name: 'main.txt', data: `${lines}\nrelease 2` }])], { repoTags: ['rel:2'] });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-registry-'));
    const port = await freePort();
    reg = await startRegistry(join(dir, 'data'), port);
    base = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, 'docker.tar'), dockerLegacyTar([image]));
    writeFileSync(join(dir, 'oci.tar'), ociLayoutTar([image], { nested: true }));
    const copy = (...args: string[]) => execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...args], { stdio: 'pipe' });
    copy(`docker-archive:${join(dir, 'docker.tar')}`, `docker://127.0.0.1:${port}/app:docker`);
    copy('--format', 'oci', `docker-archive:${join(dir, 'docker.tar')}`, `docker://127.0.0.1:${port}/app:oci`);
    copy('--all', `oci-archive:${join(dir, 'oci.tar')}`, `docker://127.0.0.1:${port}/app:list`);
    for (const [name, img] of [['1', v1], ['2', v2]] as const) {
      writeFileSync(join(dir, `rel${name}.tar`), dockerLegacyTar([img]));
      copy(`docker-archive:${join(dir, `rel${name}.tar`)}`, `docker://127.0.0.1:${port}/rel:${name}`);
    }
  }, 120_000);

  afterAll(async () => {
    await new Promise((r) => (front ? front.close(r) : r(undefined)));
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads Docker and OCI manifests, and resolves a multi-platform index to amd64', async () => {
    const client = new RegistryClient({ baseUrl: base });
    for (const tag of ['docker', 'oci', 'list']) {
      const m = await client.manifest('app', tag);
      expect(m.layers).toHaveLength(1);
      const config = await client.blobBytes('app', m.config.digest);
      const diffIds = JSON.parse(new TextDecoder().decode(config)).rootfs.diff_ids;
      expect(diffIds).toEqual(image.diffIds);
    }
    expect((await client.manifest('app', 'oci')).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('streams blobs, and reads a range of one', async () => {
    const client = new RegistryClient({ baseUrl: base });
    const m = await client.manifest('app', 'docker');
    const parts: Uint8Array[] = [];
    for await (const c of client.blob('app', m.layers[0].digest)) parts.push(c);
    const whole = Buffer.concat(parts);
    expect(`sha256:${createHash('sha256').update(whole).digest('hex')}`).toBe(m.layers[0].digest);
    const tail: Uint8Array[] = [];
    for await (const c of client.blob('app', m.layers[0].digest, { start: 100 })) tail.push(c);
    expect(Buffer.concat(tail).equals(whole.subarray(100))).toBe(true);
  });

  it('answers a Bearer challenge with a token from the realm, sending the credentials', async () => {
    let tokenAsks = 0;
    let sawBasic = '';
    front = createServer(async (req, res) => {
      const self = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
      if (req.url?.startsWith('/token')) {
        tokenAsks++;
        sawBasic = req.headers.authorization ?? '';
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't0k' }));
        return;
      }
      if (req.headers.authorization !== 'Bearer t0k') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${self}/token",service="test",scope="repository:app:pull"` }).end();
        return;
      }
      const upstream = await fetch(`${base}${req.url}`, { headers: { accept: String(req.headers.accept ?? ''), range: String(req.headers.range ?? '') } });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const client = new RegistryClient({ baseUrl: `http://127.0.0.1:${(front.address() as AddressInfo).port}`, auth: { username: 'u', password: 'p' } });
    const m = await client.manifest('app', 'docker');
    expect(m.layers).toHaveLength(1);
    expect(tokenAsks).toBe(1);
    expect(sawBasic).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('serves deltas between images read from the registry alone (no engine)', async () => {
    const host = base.replace('http://', '');
    // The cache folder does not exist yet: the source makes it.
    const server = createDeltaServer({ source: registryArchives(new RegistryClient({ baseUrl: base }), join(dir, 'cache', 'new')), store: new DeltaStore(join(dir, 'deltas')) });
    const size = await server.generate(`${host}/rel:1`, `${host}/rel:2`);
    expect(size).toBeLessThan(2000);
    await applyImageDelta(join(dir, 'rel1.tar'), new DeltaStore(join(dir, 'deltas')).pathFor(`${host}/rel:1`, `${host}/rel:2`), join(dir, 'rel2-out.tar'));
    const out = await ImageArchive.open(join(dir, 'rel2-out.tar'));
    try {
      expect(out.image().id).toBe(v2.id);
      expect(out.image().repoTags).toEqual([`${host}/rel:2`]);
    } finally {
      await out.close();
    }
  });

  it('a delta server on the registry answers 404 at once for an image the registry lacks', async () => {
    const host = base.replace('http://', '');
    const server = createDeltaServer({ source: registryArchives(new RegistryClient({ baseUrl: base }), dir), store: new DeltaStore(join(dir, 'deltas-404')) });
    const http = createServer(server.handler);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = http.address() as AddressInfo;
      for (const to of [`${host}/rel:9`, `${host}/nothing:1`]) {
        const res = await fetch(`http://127.0.0.1:${port}/delta?from=${encodeURIComponent(`${host}/rel:1`)}&to=${encodeURIComponent(to)}`);
        expect(res.status, to).toBe(404);
        expect(await res.text()).toContain(`the registry has no image ${to}`);
      }
      expect(server.generations).toBe(0);
    } finally {
      http.close();
    }
  });

  it('rolldelta serve --registry serves those deltas: 202 while it makes one, then the delta, which rebuilds the new release', async () => {
    ensureBuilt();
    const host = base.replace('http://', '');
    const child = spawn(process.execPath, [cliPath, 'serve', '--store', join(dir, 'cli-store'), '--registry', base, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', () => {
          const m = /serving deltas on (http:\/\/\S+\/delta)/.exec(stderr);
          if (m) resolve(m[1]);
        });
        child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
      });
      const ask = () => fetch(`${url}?from=${encodeURIComponent(`${host}/rel:1`)}&to=${encodeURIComponent(`${host}/rel:2`)}`);
      let r = await ask();
      const statuses = [r.status];
      while (r.status === 202) {
        await new Promise((w) => setTimeout(w, 50));
        r = await ask();
        statuses.push(r.status);
      }
      expect(statuses[0]).toBe(202);
      expect(r.status).toBe(200);
      writeFileSync(join(dir, 'cli.rdimg'), Buffer.from(await r.arrayBuffer()));
      await applyImageDelta(join(dir, 'rel1.tar'), join(dir, 'cli.rdimg'), join(dir, 'rel2-cli.tar'));
      const out = await ImageArchive.open(join(dir, 'rel2-cli.tar'));
      try {
        expect(out.image().id).toBe(v2.id);
      } finally {
        await out.close();
      }
      // An image the registry lacks: 404 at once, naming it.
      const missing = await fetch(`${url}?from=${encodeURIComponent(`${host}/rel:1`)}&to=${encodeURIComponent(`${host}/rel:9`)}`);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain(`the registry has no image ${host}/rel:9`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
    }
  }, 60_000);

  it('the registry source names the image a tag points to now (its config digest), as the tag moves', async () => {
    const host = base.replace('http://', '');
    const source = registryArchives(new RegistryClient({ baseUrl: base }), join(dir, 'cache-moving'));
    for (const [name, img] of [['2', v2], ['1', v1]] as const) {
      execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${join(dir, `rel${name}.tar`)}`, `docker://${host}/rel:moving`], { stdio: 'pipe' });
      expect(await source.imageId!(`${host}/rel:moving`)).toBe(img.id);
    }
    await expect(source.imageId!(`${host}/rel:nothing`)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('checks a reference with a HEAD request (no pull by Docker Hub\'s count), reading a manifest only for a digest not seen before', async () => {
    const asked: string[] = [];
    const counting = createServer(async (req, res) => {
      asked.push(`${req.method} ${req.url?.replace(/sha256:[0-9a-f]{64}/, 'DIGEST')}`);
      const upstream = await fetch(`${base}${req.url}`, { method: req.method, headers: { accept: String(req.headers.accept ?? '') } });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(req.method === 'HEAD' ? undefined : Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => counting.listen(0, '127.0.0.1', r));
    try {
      const client = new RegistryClient({ baseUrl: `http://127.0.0.1:${(counting.address() as AddressInfo).port}` });
      // The digest HEAD tells: the manifest's, or for a multi-platform tag the index's.
      expect(await client.manifestDigest('app', 'docker')).toBe((await client.manifest('app', 'docker')).digest);
      const listDigest = await client.manifestDigest('app', 'list');
      expect(listDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(listDigest).not.toBe((await client.manifest('app', 'list')).digest);
      asked.length = 0;
      const source = registryArchives(client, join(dir, 'cache-head'));
      for (let i = 0; i < 3; i++) expect(await source.imageId!('127.0.0.1:1/rel:1')).toBe(v1.id);
      await source.checkImage!('127.0.0.1:1/rel:2');
      expect(asked).toEqual(['HEAD /v2/rel/manifests/1', 'GET /v2/rel/manifests/DIGEST', 'HEAD /v2/rel/manifests/1', 'HEAD /v2/rel/manifests/1', 'HEAD /v2/rel/manifests/2']);
      await expect(source.checkImage!('127.0.0.1:1/rel:9')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
      // The generation after the server's imageId reads no manifest again (a GET is a pull on Docker
      // Hub); an image it has not seen, once, by the digest its HEAD named.
      asked.length = 0;
      await source.archive('127.0.0.1:1/rel:1');
      await source.archive('127.0.0.1:1/rel:2');
      expect(asked.filter((a) => a.includes('/manifests/'))).toEqual(['HEAD /v2/rel/manifests/1', 'HEAD /v2/rel/manifests/2', 'GET /v2/rel/manifests/DIGEST']);
    } finally {
      await new Promise((r) => counting.close(r));
    }
  });

  it('keeps keepArchives archives in its cache, the most recently used', async () => {
    const host = base.replace('http://', '');
    const cache = join(dir, 'cache-kept');
    const source = registryArchives(new RegistryClient({ baseUrl: base }), cache, { keepArchives: 1 });
    const first = await source.archive(`${host}/rel:1`);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(first, hourAgo, hourAgo); // used an hour ago
    const second = await source.archive(`${host}/rel:2`);
    expect(readdirSync(cache)).toEqual([basename(second)]);
    // Asked for again: written again, and the other, now the older, stays (used within the minute).
    expect(await source.archive(`${host}/rel:1`)).toBe(first);
    expect(readdirSync(cache).sort()).toEqual([basename(first), basename(second)].sort());
    expect(() => registryArchives(new RegistryClient({ baseUrl: base }), cache, { keepArchives: 0 })).toThrow(/keepArchives must be a whole number from 1/);
  });

  it('a missing tag is ERR_REMOTE with the status; a dead registry ERR_IO', async () => {
    await expect(new RegistryClient({ baseUrl: base }).manifest('app', 'nope')).rejects.toMatchObject({ code: 'ERR_REMOTE' });
    const dead = await freePort();
    await expect(new RegistryClient({ baseUrl: `http://127.0.0.1:${dead}` }).manifest('app', '1')).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});
