// What a long-running delta server keeps per request: nothing once the answer is given. Measured
// in a process of its own (heapGrowthMiB), the server on loopback, thousands of requests.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heapGrowthMiB } from '../helpers/heap-growth.js';
import { makeTar } from '../helpers/images.js';
import { sha } from '../helpers/image-fixtures.js';

/** A server on loopback (store and archives in a fresh folder) and `get(path, method)`, resolving to the status. */
const serverSetup = (options: string) => `
  const { createDeltaServer, DeltaStore, archiveDirectory } = await import(dist);
  const { createServer, request } = await import('node:http');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(tmpdir() + '/rolldelta-server-memory-');
  const server = createDeltaServer(${options});
  const http = createServer(server.handler);
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const port = http.address().port;
  const get = (path, method = 'GET') => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });`;

/** A one-image docker save archive (`app:n`) of two small layers. */
function release(n: number): Uint8Array {
  const layers = [makeTar([{ type: 'file', path: 'lib.txt', data: 'a library\n' }]), makeTar([{ type: 'file', path: 'app.txt', data: `release ${n}\n` }])];
  const config = new TextEncoder().encode(JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) } }));
  const paths = layers.map((l) => `${sha(l).slice(7)}/layer.tar`);
  return makeTar([
    ...layers.map((l, i) => ({ type: 'file' as const, path: paths[i], data: l })),
    { type: 'file', path: 'c.json', data: config },
    { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: [`app:${n}`], Layers: paths }]) },
  ]);
}

describe('delta server memory', () => {
  it('forgets failed generations once their keepFailureMs is over, asked for again or not', async () => {
    // A source without checkImage (it is optional) starts a generation for any pair asked for;
    // each failed, and the failure of a pair never asked for again was kept for good: +2.2 MiB
    // per 2000 queries for images no one has (now +0.0-0.1).
    const growth = await heapGrowthMiB(`${serverSetup(`{
      source: { archive: (ref) => archiveDirectory(dir).archive(ref) },
      store: new DeltaStore(dir + '/store'),
      keepFailureMs: 1,
      workers: 1,
    }`)}
    let n = 0;
    async function round() {
      for (let i = 0; i < 2000; i += 20) {
        const statuses = await Promise.all(Array.from({ length: 20 }, () => get('/delta?from=gone:' + n++ + '&to=' + 'x'.repeat(300))));
        if (statuses.some((s) => s !== 202)) throw new Error('expected 202, got ' + statuses);
      }
      // The last generations fail, and what node:http holds of closed connections for a moment goes.
      await new Promise((r) => setTimeout(r, 1500));
    }`);
    expect(growth).toBeLessThan(1);
  }, 60_000);

  it('forgets the digests of the deltas its store removes', async () => {
    // A store with maxBytes removes deltas, but the server kept the SHA-256 it had announced for
    // each, one per delta ever served: +1.5 MiB per 2000 deltas served and removed (now 0.4, no
    // more after 4000: what the first rounds warm up).
    const images = mkdtempSync(join(tmpdir(), 'rolldelta-server-memory-'));
    for (const n of [1, 2]) writeFileSync(join(images, `app_${n}.tar`), release(n));
    const growth = await heapGrowthMiB(`${serverSetup(`{
      source: archiveDirectory(${JSON.stringify(images)}),
      store: new DeltaStore(dir + '/store', { maxBytes: 1 }),
      workers: 1,
      level: 0,
    }`)}
    const store = new DeltaStore(dir + '/store');
    await store.init();
    let n = 0;
    let level = 0;
    async function round() {
      // 1000 deltas served (their digest announced), then one made: it evicts them all.
      const pairs = Array.from({ length: 1000 }, () => 'old:' + n++);
      for (const from of pairs) writeFileSync(store.pathFor(from, 'app:2'), 'delta of ' + from);
      for (let i = 0; i < pairs.length; i += 20) {
        const statuses = await Promise.all(pairs.slice(i, i + 20).map((from) => get('/delta?from=' + from + '&to=app:2', 'HEAD')));
        if (statuses.some((s) => s !== 200)) throw new Error('expected 200, got ' + statuses);
      }
      await server.generate('app:1', 'app:2', level++);
      await new Promise((r) => setTimeout(r, 1500));
    }`);
    expect(growth).toBeLessThan(0.7);
  }, 60_000);
});
