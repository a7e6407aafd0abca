// A registry that is busy, away, breaks off or stalls, and one that serves a damaged blob, against
// RegistryClient and a delta server reading images from it. Debian's docker-registry on loopback,
// filled by skopeo, is the registry. Refusals and the damaged blob are real (a port no one listens
// on, a byte flipped in the registry's own storage); a busy answer, a cut and a stall are made by
// a small front that proxies to it, mocks for those faults only, which the real registry does not
// produce on demand.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, RegistryClient, createDeltaServer, isRegistryUnavailable, registryArchives } from '../../src/index.js';
import { dockerLegacyTar, fixtureImage, tarBytes } from '../helpers/image-fixtures.js';
import { missingBinary, requirePeer } from '../helpers/peers.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const registry = requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry'));
const skopeo = registry.skip ? registry : requirePeer('skopeo', missingBinary('skopeo', 'skopeo'));

/** What the front does with a blob request; manifests always pass through. */
type Fault = 'none' | 'busy' | 'cut' | 'stall' | 'gone';

describe.skipIf(registry.skip || skopeo.skip)(`a registry busy, away or damaged ${registry.message}${skopeo.message}`, () => {
  let dir: string;
  let reg: { stop(): Promise<void> };
  let base: string;
  let front: Server;
  let frontUrl: string;
  let fault: Fault = 'none';
  let busyStatus = 503;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-registry-busy-'));
    const port = await freePort();
    reg = await startRegistry(join(dir, 'data'), port);
    base = `http://127.0.0.1:${port}`;
    const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
    for (const release of ['1', '2', 'damaged']) {
      const img = fixtureImage([tarBytes([{ type: 'file', name: 'main.txt', data: `${lines}\nrelease ${release}` }])], { repoTags: [`rel:${release}`] });
      writeFileSync(join(dir, `rel${release}.tar`), dockerLegacyTar([img]));
      execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${join(dir, `rel${release}.tar`)}`, `docker://127.0.0.1:${port}/rel:${release}`], { stdio: 'pipe' });
    }
    front = createServer(async (req, res) => {
      if (req.url?.includes('/blobs/') && fault !== 'none') return misbehave(res);
      const upstream = await fetch(`${base}${req.url}`, { headers: { accept: String(req.headers.accept ?? '') } });
      res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  }, 120_000);

  /** Answers a blob request as the current fault says: 503 (or busyStatus), half a body then a cut, half then silence. */
  function misbehave(res: ServerResponse): void {
    if (fault === 'busy') return void res.writeHead(busyStatus, { 'content-type': 'text/plain' }).end('try later\n');
    if (fault === 'gone') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('blob unknown\n');
    res.writeHead(200, { 'content-length': '100000', 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(50000, 7));
    if (fault === 'cut') setTimeout(() => res.socket?.destroy(), 50);
  }

  afterAll(async () => {
    front?.closeAllConnections();
    await new Promise((r) => (front ? front.close(r) : r(undefined)));
    await reg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Reads a whole blob of rel:1 through the front with `f` in force; the error it ends with. */
  async function blobFailure(f: Fault, idleTimeoutMs?: number): Promise<unknown> {
    const client = new RegistryClient({ baseUrl: frontUrl, idleTimeoutMs });
    const m = await client.manifest('rel', '1');
    fault = f;
    try {
      for await (const _ of client.blob('rel', m.layers[0].digest));
      return undefined;
    } catch (e) {
      return e;
    } finally {
      fault = 'none';
    }
  }

  it('a registry that cannot be reached, breaks off or stalls mid-blob, or answers 429 or 502-504 is unavailable; a 404, 500 or refusal is not', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const refused = await new RegistryClient({ baseUrl: dead }).manifest('rel', '1').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'ERR_IO', baseUrl: dead, status: undefined });
    expect((refused as Error).message).toContain(`cannot reach the registry at ${dead}`);
    expect(isRegistryUnavailable(refused)).toBe(true);

    const cut = await blobFailure('cut');
    expect(cut).toMatchObject({ code: 'ERR_IO' });
    expect((cut as Error).message).toContain('broke off its answer');
    expect(isRegistryUnavailable(cut)).toBe(true);

    const stalled = await blobFailure('stall', 300);
    expect(stalled).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(isRegistryUnavailable(stalled)).toBe(true);

    for (const status of [429, 502, 503, 504]) {
      busyStatus = status;
      const busy = await blobFailure('busy');
      expect(busy, String(status)).toMatchObject({ code: 'ERR_REMOTE', status });
      expect(isRegistryUnavailable(busy), String(status)).toBe(true);
    }
    for (const status of [500, 403]) {
      busyStatus = status;
      const refusal = await blobFailure('busy');
      expect(refusal, String(status)).toMatchObject({ code: 'ERR_REMOTE' });
      expect(isRegistryUnavailable(refusal), String(status)).toBe(false);
    }
    busyStatus = 503;
    const gone = await blobFailure('gone');
    expect(gone).toMatchObject({ code: 'ERR_REMOTE' });
    expect(isRegistryUnavailable(gone)).toBe(false);
    expect(await blobFailure('none')).toBeUndefined();
  });

  it('a whole blob that hashes otherwise than its digest is ERR_CHECKSUM after its last piece, and not cached by a delta server', async () => {
    const client = new RegistryClient({ baseUrl: base });
    const m = await client.manifest('rel', 'damaged');
    const hex = m.layers[0].digest.slice('sha256:'.length);
    // The registry's own copy of the layer, a byte flipped: it serves what it stores.
    const stored = join(dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(stored);
    bytes[bytes.length >> 1] ^= 1;
    writeFileSync(stored, bytes);
    const err = await (async () => {
      for await (const _ of client.blob('rel', m.layers[0].digest));
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CHECKSUM' });
    expect((err as Error).message).toContain(`blob ${m.layers[0].digest} arrived with digest sha256:`);
    expect(isRegistryUnavailable(err)).toBe(false);
    // A part of it is not checked (a resumed read cannot be).
    let n = 0;
    for await (const c of client.blob('rel', m.layers[0].digest, { start: 10 })) n += c.length;
    expect(n).toBe(bytes.length - 10);

    const host = base.replace('http://', '');
    const cache = join(dir, 'cache-damaged');
    const server = createDeltaServer({ source: registryArchives(client, cache), store: new DeltaStore(join(dir, 'deltas-damaged')) });
    await expect(server.generate(`${host}/rel:1`, `${host}/rel:damaged`)).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
    // The damaged image's archive is not cached (nor a part of it): a repaired registry is read again.
    const named = m.digest.slice('sha256:'.length);
    expect(readdirSync(cache).filter((f) => f.includes(named))).toEqual([]);
  });

  it('a delta server answers 503 with Retry-After while its registry is away or busy, not a 500 kept for keepFailureMs, and makes the delta once it is back', async () => {
    const host = frontUrl.replace('http://', '');
    const events: string[] = [];
    const server = createDeltaServer({
      source: registryArchives(new RegistryClient({ baseUrl: frontUrl }), join(dir, 'cache-busy')),
      store: new DeltaStore(join(dir, 'deltas-busy')),
      retryAfterSeconds: 1,
      keepFailureMs: 600_000,
      onEvent: (e) => void (e.type === 'generation-failed' && events.push(e.reason)),
    });
    const http = createServer(server.handler);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const ask = (from: string, to: string) => fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/delta?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    try {
      // Away when asked: told at once, by the check of both images, and nothing generated.
      const deadHost = `127.0.0.1:${await freePort()}`;
      const awayServer = createDeltaServer({ source: registryArchives(new RegistryClient({ baseUrl: `http://${deadHost}` }), join(dir, 'cache-away')), store: new DeltaStore(join(dir, 'deltas-away')) });
      const away = createServer(awayServer.handler);
      await new Promise<void>((r) => away.listen(0, '127.0.0.1', r));
      try {
        const r = await fetch(`http://127.0.0.1:${(away.address() as AddressInfo).port}/delta?from=${deadHost}/rel:1&to=${deadHost}/rel:2`);
        expect(r.status).toBe(503);
        expect(r.headers.get('retry-after')).toBe('2');
        expect(await r.text()).toContain("the delta server's registry is unavailable; ask again: cannot reach the registry at");
        expect(awayServer.generations).toBe(0);
      } finally {
        away.close();
      }

      // Busy while the delta is made (the manifests answer, the blobs 503).
      fault = 'busy';
      let r = await ask(`${host}/rel:1`, `${host}/rel:2`);
      const seen: string[] = [];
      while (r.status === 202) {
        await new Promise((w) => setTimeout(w, 50));
        r = await ask(`${host}/rel:1`, `${host}/rel:2`);
      }
      seen.push(`${r.status} ${r.headers.get('retry-after')} ${(await r.text()).split(':')[0]}`);
      expect(seen).toEqual(["503 1 the delta server's registry was unavailable while it made the delta; ask again"]);
      expect(events).toHaveLength(1);
      expect(events[0]).toContain('the registry answered 503');

      // Back: after Retry-After the next ask generates again (a 500 would have stood for keepFailureMs).
      fault = 'none';
      await new Promise((w) => setTimeout(w, 1100));
      r = await ask(`${host}/rel:1`, `${host}/rel:2`);
      while (r.status === 202) {
        await new Promise((w) => setTimeout(w, 50));
        r = await ask(`${host}/rel:1`, `${host}/rel:2`);
      }
      expect(r.status).toBe(200);
      expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(0);
      expect(server.generations).toBe(2);
    } finally {
      fault = 'none';
      http.close();
    }
  });
});
