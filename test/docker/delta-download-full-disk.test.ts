// A delta downloaded onto a disk that fills up, for real: a 1 MiB tmpfs (mounting it needs root;
// skipped otherwise, saying so, and a failure under CI=true). The device's own disk is not the
// server's fault: no attempt is made again, the error is ERR_IO naming the part, and the part is
// removed so that its space goes to what runs next (the fallback pull).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadDelta } from '../../src/docker/delta-download.js';
import { diff } from '../../src/format/operations.js';
import { prng } from '../core/_diff-helpers.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

const tmpfs = mountTmpfs('1m');
const disk = tmpfs.dir;
afterAll(() => tmpfs.remove());

// 512 KiB of new content: half the disk, which the filler leaves a quarter of.
const delta = diff(prng(64 << 10, 1), prng(512 << 10, 2), { level: 1, frameSize: 4096 });
const sha = createHash('sha256').update(delta).digest('hex');

describe.skipIf(tmpfs.peer.skip)(`downloadDelta onto a full disk ${tmpfs.peer.message}`, () => {
  let server: Server;
  let url: string;
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from > 0 ? 206 : 200, { 'content-length': delta.length - from, 'x-delta-sha256': sha });
      res.end(delta.subarray(from));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/delta`;
  });
  afterAll(() => void server?.close());

  it('fails at once with ERR_IO naming the part, retries nothing, removes the part; with room, a rerun downloads it', async () => {
    writeFileSync(join(disk, 'filler'), new Uint8Array(768 << 10));
    const path = join(disk, 'update.rdimg');
    const t0 = Date.now();
    // Before, the writes the disk cut short were counted whole and the download ended in a false
    // ERR_CHECKSUM ("corrupted in transit"); a write refused (ENOSPC) was retried as a network
    // failure (30 attempts 10 s apart by default) into ERR_REMOTE, the part filling the disk kept.
    const err = await downloadDelta(url, path, { requestTimeoutMs: 10_000, maxBackoffMs: 100, retries: 3, retryIntervalMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IO', message: `cannot write ${path}.part: no space left on the device` });
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(requests).toBe(1);
    expect(readdirSync(disk)).toEqual(['filler']);
    rmSync(join(disk, 'filler'));
    await downloadDelta(url, path, { requestTimeoutMs: 10_000, maxBackoffMs: 100, retries: 1, retryIntervalMs: 10 });
    expect(Buffer.compare(readFileSync(path), delta)).toBe(0);
    rmSync(path);
  });
});
