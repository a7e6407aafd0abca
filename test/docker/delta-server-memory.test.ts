// What a long-running delta server keeps per request: nothing once the answer is given. Measured
// in a process of its own (heapGrowthMiB), the server on loopback, thousands of requests.
import { describe, expect, it } from 'vitest';
import { heapGrowthMiB } from '../helpers/heap-growth.js';

/** A server on loopback (store and archives in a fresh folder) and `get(path)`, resolving to the status. */
const serverSetup = (options: string) => `
  const { createDeltaServer, DeltaStore, archiveDirectory } = await import(dist);
  const { createServer, request } = await import('node:http');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(tmpdir() + '/rolldelta-server-memory-');
  const server = createDeltaServer(${options});
  const http = createServer(server.handler);
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const port = http.address().port;
  const get = (path) => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end();
  });`;

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
});
