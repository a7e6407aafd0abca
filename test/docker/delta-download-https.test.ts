// A delta over https: node:https hands every answer's body over in fresh buffers (an http: one is
// read through a ring), and the download raced each read against a promise that lived as long as
// the download, keeping every chunk reachable to the end: a 128 MiB delta peaked at 218 MiB RSS
// (this test's, cut once: 167 MiB before, 73 now). The device runs in a process of its own,
// trusting the test certificate through NODE_EXTRA_CA_CERTS as a device with a private CA would.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diff } from '../../src/format/operations.js';
import { peakRssMiB } from '../helpers/peak-rss.js';

const tls = join(import.meta.dirname, '..', 'helpers', 'tls');
const dir = mkdtempSync(join(tmpdir(), 'rolldelta-https-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('downloadDelta over https', () => {
  it('resumes a cut answer with Range, verifies the whole and keeps no chunk it wrote', async () => {
    const delta = diff(new Uint8Array(4096), randomBytes(128 << 20), { level: 0 });
    const deltaPath = join(dir, 'served.rd');
    writeFileSync(deltaPath, delta);
    const sha = createHash('sha256').update(delta).digest('hex');
    const ranges: string[] = [];
    const server = createServer({ key: readFileSync(join(tls, 'localhost.key')), cert: readFileSync(join(tls, 'localhost.crt')) }, (req, res) => {
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      ranges.push(req.headers.range ?? '');
      res.writeHead(from > 0 ? 206 : 200, { 'content-length': delta.length - from, 'x-delta-sha256': sha });
      const body = createReadStream(deltaPath, { start: from });
      body.pipe(res);
      // The first answer is cut a third of the way in, as a dropped connection would.
      if (ranges.length === 1) body.on('data', () => void (body.bytesRead > delta.length / 3 && res.destroy()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://localhost:${(server.address() as AddressInfo).port}/delta`;
      const out = join(dir, 'got.rd');
      const peak = await peakRssMiB(
        `const { downloadDelta } = await import(dist);
        await downloadDelta(${JSON.stringify(url)}, ${JSON.stringify(out)}, { requestTimeoutMs: 30000, maxBackoffMs: 100, retries: 3, retryIntervalMs: 10, signal: new AbortController().signal });`,
        { ...process.env, NODE_EXTRA_CA_CERTS: join(tls, 'localhost.crt') },
      );
      expect(ranges[0]).toBe('');
      expect(ranges.length).toBe(2);
      expect(ranges[1]).toMatch(/^bytes=\d+-$/);
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha);
      expect(peak, `peak RSS ${peak} MiB`).toBeLessThan(120);
    } finally {
      server.close();
    }
  });
});
