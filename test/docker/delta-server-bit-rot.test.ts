// Real bit rot under the delta server: its store on an ext4 file system in a file, a byte of a
// stored delta changed in that file (not through the file system, so the delta's size, times and
// inode stay), and the file's cached pages dropped so that the server reads the changed byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, archiveDirectory, createDeltaServer, type DeltaServerEvent } from '../../src/index.js';
import { downloadDelta } from '../../src/docker/delta-download.js';
import { prng } from '../core/_diff-helpers.js';
import { makeTar } from '../helpers/images.js';
import { mountLoopExt4 } from '../helpers/loop-ext4.js';

const disk = mountLoopExt4('64M');
const dir = mkdtempSync(join(tmpdir(), 'rolldelta-bit-rot-'));
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MiB = 1 << 20;

/** A one-image docker save archive whose app layer is `app`. */
function image(n: number, app: Uint8Array): Uint8Array {
  const layer = makeTar([{ type: 'file', path: 'app.bin', data: app }]);
  const config = new TextEncoder().encode(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${hex(layer)}`] } }));
  return makeTar([
    { type: 'file', path: `${hex(layer)}/layer.tar`, data: layer },
    { type: 'file', path: 'c.json', data: config },
    { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: [`app:${n}`], Layers: [`${hex(layer)}/layer.tar`] }]) },
  ]);
}

/** Size, times and inode: what the server's cached check is keyed by (fileVersionOf). */
const versionOf = (path: string) => {
  const st = statSync(path);
  return [st.size, st.mtimeMs, st.ctimeMs, st.ino];
};

/** A server with its store on the loop disk, a delta in it already served once, and a device's options. */
async function servedDelta(name: string) {
  const events: DeltaServerEvent[] = [];
  const store = new DeltaStore(join(disk.dir, name));
  // Level 0 (literals stored): several MiB of delta, made in well under a second.
  const server = createDeltaServer({ source: archiveDirectory(dir), store, level: 0, retryAfterSeconds: 1, onEvent: (e) => events.push(e) });
  await server.generate('app:1', 'app:2');
  const path = store.pathFor('app:1', 'app:2');
  const good = readFileSync(path);
  const http = createServer(server.handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/delta?from=app:1&to=app:2`;
  const first = await fetch(url);
  expect(hex(new Uint8Array(await first.arrayBuffer()))).toBe(hex(good)); // its check is cached now
  // Its request event comes when the server is done with the connection, a moment later.
  while (!events.some((e) => e.type === 'request')) await new Promise((r) => setTimeout(r, 5));
  // close() ends the HTTP server and the delta server's generations: nothing holds the store's files at unmount.
  const close = async () => {
    await new Promise((r) => http.close(r));
    await server.close();
  };
  return { server, http, events, path, good, url, close };
}

/** Damages byte `at` of the stored delta on the disk beneath it, checking that only its bytes changed. */
function rot(path: string, good: Buffer, at: number): void {
  const before = versionOf(path);
  disk.rot(path, at);
  expect(versionOf(path)).toEqual(before);
  expect(readFileSync(path)[at]).not.toBe(good[at]);
}

const device = { requestTimeoutMs: 20_000, maxBackoffMs: 200, retries: 5, retryIntervalMs: 10 };

beforeAll(() => {
  writeFileSync(join(dir, 'app_1.tar'), image(1, prng(MiB, 1)));
  writeFileSync(join(dir, 'app_2.tar'), image(2, prng(7 * MiB, 2)));
});

afterAll(() => {
  disk.remove();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(disk.peer.skip)(`a stored delta that rots while the server runs ${disk.peer.message}`, () => {
  it('a GET of the whole delta stops at the damaged frame; it is made again and the device gets the good delta', async () => {
    const s = await servedDelta('store-whole');
    try {
      expect(s.good.length).toBeGreaterThan(6 * MiB);
      rot(s.path, s.good, (s.good.length >> 1) + 1000);
      const got = join(dir, 'whole.rdimg');
      await downloadDelta(s.url, got, device);
      expect(hex(readFileSync(got))).toBe(hex(s.good));
      const damaged = s.events.filter((e) => e.type === 'delta-damaged');
      expect(damaged).toEqual([expect.objectContaining({ reason: expect.stringMatching(/damaged: a frame fails its CRC-32 at byte \d+, found while sending it$/) })]);
      expect(s.server.generations).toBe(2);
      expect(readFileSync(s.path).equals(s.good)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('a Range GET (a device resuming) stops at the damaged frame after its start; it is made again and the device gets the good delta', async () => {
    const s = await servedDelta('store-range');
    try {
      const resumeAt = 5 * MiB + 12_345;
      rot(s.path, s.good, 6 * MiB + 100);
      // What an interrupted download left: the first bytes, and a note of the URL and SHA-256.
      const got = join(dir, 'range.rdimg');
      writeFileSync(`${got}.part`, s.good.subarray(0, resumeAt));
      writeFileSync(`${got}.part.json`, JSON.stringify({ url: s.url, sha256: hex(s.good) }));
      const requests: Array<{ status: number; bytes: number }> = [];
      s.events.length = 0;
      await downloadDelta(s.url, got, device);
      expect(hex(readFileSync(got))).toBe(hex(s.good));
      for (const e of s.events) if (e.type === 'request') requests.push({ status: e.status, bytes: e.bytes });
      expect(requests[0]).toMatchObject({ status: 206 });
      // Checked from a frame head near the range, not read from byte 0.
      expect(requests[0]!.bytes).toBeLessThan(s.good.length - 4 * MiB);
      expect(s.events.filter((e) => e.type === 'delta-damaged')).toEqual([
        expect.objectContaining({ reason: expect.stringMatching(/damaged: a frame fails its CRC-32 at byte \d+, found while sending it$/) }),
      ]);
      expect(s.server.generations).toBe(2);
      // The device resumed the delta made again (the same SHA-256): no request started over. (The
      // bytes of the damaged frame sent before its end showed the damage make it fetch that frame again.)
      expect(requests.filter((r) => r.status === 200)).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
