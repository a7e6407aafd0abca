// The delta server's side of a moving tag (`app:stable` pushed anew at each release): a device asks
// from the image it has, by ID, and is told 204 while the tag still names it, else gets the delta.
// An archive folder, and Debian's docker-registry on loopback filled by skopeo.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, ImageArchive, RegistryClient, applyImageDelta, archiveDirectory, createDeltaServer, registryArchives, type DeltaServer, type DeltaSource } from '../../src/index.js';
import { ArchivesByImageId, isImageIdRef } from '../../src/docker/_archives-by-image-id.js';
import { dockerLegacyTar, fixtureImage, tarBytes, type FixtureImage } from '../helpers/image-fixtures.js';
import { missingBinary, requirePeer } from '../helpers/peers.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-moving-tag-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = Array.from({ length: 20000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
/** Release `n` as a one-image archive tagged `tag`, written to `path`. */
function writeRelease(n: number, tag: string, path: string): FixtureImage {
  const img = fixtureImage([tarBytes([{ type: 'file', name: 'main.txt', data: `${lines}\nrelease ${n}` }])], { repoTags: [tag] });
  writeFileSync(path, dockerLegacyTar([img]));
  return img;
}

async function listen(server: DeltaServer): Promise<{ url: string; http: Server }> {
  const http = createServer(server.handler);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/delta`, http };
}

/** GETs the pair until it is made (202 meanwhile); the last answer. */
async function ask(url: string, from: string, to: string, method = 'GET'): Promise<Response> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${url}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { method });
    if (res.status !== 202) return res;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the delta was never made');
}

/** Applies the delta `bytes` to the archive `old`; the ID of the image it makes. */
async function appliedId(old: string, bytes: ArrayBuffer, name: string): Promise<string> {
  const deltaPath = join(dir, `${name}.rdimg`);
  writeFileSync(deltaPath, new Uint8Array(bytes));
  await applyImageDelta(old, deltaPath, join(dir, `${name}-out.tar`));
  const out = await ImageArchive.open(join(dir, `${name}-out.tar`));
  try {
    return out.image().id;
  } finally {
    await out.close();
  }
}

describe('image IDs as references', () => {
  it('isImageIdRef takes sha256: and 64 lower-case hex digits, nothing else', () => {
    expect(isImageIdRef(`sha256:${'0a'.repeat(32)}`)).toBe(true);
    for (const ref of [`sha256:${'0a'.repeat(31)}`, `sha256:${'0A'.repeat(32)}`, `app@sha256:${'0a'.repeat(32)}`, 'app:stable', `sha512:${'0a'.repeat(32)}`]) expect(isImageIdRef(ref), ref).toBe(false);
  });

  it('ArchivesByImageId finds the archive holding an image, passes over what is no image, and follows the folder as it changes', async () => {
    const folder = join(dir, 'by-id');
    mkdirSync(folder);
    const one = writeRelease(1, 'a:1', join(folder, 'a_1.tar'));
    writeFileSync(join(folder, 'junk.tar'), 'not a tar at all');
    writeFileSync(join(folder, 'notes.txt'), 'not looked at');
    const archives = new ArchivesByImageId(folder);
    expect((await archives.find(one.id))?.path).toBe(join(folder, 'a_1.tar'));
    const two = writeRelease(2, 'a:2', join(folder, 'a_2.tar'));
    expect((await archives.find(two.id))?.path).toBe(join(folder, 'a_2.tar'));
    // The same file name, another image: read again, not the ID remembered.
    writeRelease(3, 'a:1', join(folder, 'a_1.tar'));
    expect(await archives.find(one.id)).toBeUndefined();
    unlinkSync(join(folder, 'a_2.tar'));
    expect(await archives.find(two.id)).toBeUndefined();
    expect(await new ArchivesByImageId(join(dir, 'no-such-folder')).find(one.id)).toBeUndefined();
  });
});

describe('a delta server over an archive folder, asked from an image ID', () => {
  it('answers 204 naming the image while the tag names the device image, makes the delta once it moved, and 404 for an ID it has no archive of', async () => {
    const images = join(dir, 'images');
    mkdirSync(images);
    const v1 = writeRelease(1, 'app:stable', join(images, 'app_stable.tar'));
    copyFileSync(join(images, 'app_stable.tar'), join(dir, 'device-v1.tar'));
    const server = createDeltaServer({ source: archiveDirectory(images), store: new DeltaStore(join(dir, 'store')), retryAfterSeconds: 0 });
    const { url, http } = await listen(server);
    try {
      for (const method of ['GET', 'HEAD']) {
        const same = await ask(url, v1.id, 'app:stable', method);
        expect(same.status, method).toBe(204);
        expect(same.headers.get('x-image-id')).toBe(v1.id);
        expect(await same.text()).toBe('');
      }
      expect(server.generations).toBe(0);
      // Release 2 pushed under the same tag; release 1 stays in the folder under its own name.
      copyFileSync(join(images, 'app_stable.tar'), join(images, 'app_1.tar'));
      const v2 = writeRelease(2, 'app:stable', join(images, 'app_stable.tar'));
      const res = await ask(url, v1.id, 'app:stable');
      expect(res.status).toBe(200);
      expect(await appliedId(join(dir, 'device-v1.tar'), await res.arrayBuffer(), 'folder')).toBe(v2.id);
      // Once the device has release 2: nothing to do again.
      expect((await ask(url, v2.id, 'app:stable')).status).toBe(204);
      const unknown = await ask(url, `sha256:${'ab'.repeat(32)}`, 'app:stable');
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toContain(`no archive in ${images} holds image sha256:${'ab'.repeat(32)}`);
      // The stored delta is made again once the tag moves back: then 204, not the old delta.
      copyFileSync(join(images, 'app_1.tar'), join(images, 'app_stable.tar'));
      expect((await ask(url, v1.id, 'app:stable')).status).toBe(204);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});

describe('what a check costs the source', () => {
  it('asks the source one question per reference (its imageId), and checkImage only for a reference whose ID it cannot read', async () => {
    const images = join(dir, 'images-counted');
    mkdirSync(images);
    const v1 = writeRelease(1, 'app:stable', join(images, 'app_stable.tar'));
    writeFileSync(join(images, 'app_damaged.tar'), 'not an image archive');
    const inner = archiveDirectory(images);
    const calls: string[] = [];
    const source: DeltaSource = {
      archive: (ref) => inner.archive(ref),
      checkImage: (ref) => (calls.push(`checkImage ${ref}`), inner.checkImage!(ref)),
      imageId: (ref) => (calls.push(`imageId ${ref}`), inner.imageId!(ref)),
    };
    const server = createDeltaServer({ source, store: new DeltaStore(join(dir, 'store-counted')), retryAfterSeconds: 0, keepFailureMs: 0 });
    const { url, http } = await listen(server);
    try {
      expect((await ask(url, v1.id, 'app:stable', 'HEAD')).status).toBe(204);
      expect(calls.sort()).toEqual(['imageId app:stable', `imageId ${v1.id}`]);
      // A damaged archive: there (its check passes), so the generation is what says why, as before.
      calls.length = 0;
      const damaged = await fetch(`${url}?from=${encodeURIComponent(v1.id)}&to=app:damaged`);
      expect(damaged.status).toBe(202);
      expect(calls.sort()).toEqual(['checkImage app:damaged', 'imageId app:damaged', `imageId ${v1.id}`]);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});

const registry = requirePeer('docker-registry', missingBinary('docker-registry', 'docker-registry'));
const skopeo = registry.skip ? registry : requirePeer('skopeo', missingBinary('skopeo', 'skopeo'));

describe.skipIf(registry.skip || skopeo.skip)(`a delta server over a registry, asked from an image ID ${registry.message}${skopeo.message}`, () => {
  let reg: { stop(): Promise<void> };
  let base: string;
  let host: string;
  const push = (n: number, tag: string): FixtureImage => {
    const file = join(dir, `push-${n}.tar`);
    const img = writeRelease(n, tag, file);
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${file}`, `docker://${host}/${tag}`], { stdio: 'pipe' });
    return img;
  };

  beforeAll(async () => {
    const port = await freePort();
    reg = await startRegistry(join(dir, 'registry'), port);
    base = `http://127.0.0.1:${port}`;
    host = `127.0.0.1:${port}`;
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('knows the images it has read by ID, and after a restart those in its archive cache; others are 404', async () => {
    const v1 = push(1, 'app:stable');
    copyFileSync(join(dir, 'push-1.tar'), join(dir, 'device-reg-v1.tar'));
    const cache = join(dir, 'reg-cache');
    const source = registryArchives(new RegistryClient({ baseUrl: base }), cache);
    const server = createDeltaServer({ source, store: new DeltaStore(join(dir, 'reg-store')), retryAfterSeconds: 0 });
    const { url, http } = await listen(server);
    const stable = `${host}/app:stable`;
    try {
      // Not read yet: the device's ID means nothing to this source.
      const before = await ask(url, v1.id, stable);
      expect(before.status).toBe(404);
      expect(await before.text()).toContain(`has not seen image ${v1.id}`);
      // A device that has release 1 asks while the tag names it: 204 (the source read its manifest).
      expect(await source.imageId!(stable)).toBe(v1.id);
      const same = await ask(url, v1.id, stable);
      expect(same.status).toBe(204);
      expect(same.headers.get('x-image-id')).toBe(v1.id);
      const v2 = push(2, 'app:stable');
      const res = await ask(url, v1.id, stable);
      expect(res.status).toBe(200);
      expect(await appliedId(join(dir, 'device-reg-v1.tar'), await res.arrayBuffer(), 'registry')).toBe(v2.id);
    } finally {
      await new Promise((r) => http.close(r));
    }
    // A restarted server knows release 1 by the archive its generation left in the cache.
    const restarted: DeltaSource = registryArchives(new RegistryClient({ baseUrl: base }), cache);
    expect(await restarted.imageId!(v1.id)).toBe(v1.id);
    const archive = await ImageArchive.open(await restarted.archive(v1.id));
    try {
      expect(archive.image().id).toBe(v1.id);
    } finally {
      await archive.close();
    }
    await expect(registryArchives(new RegistryClient({ baseUrl: base }), join(dir, 'reg-empty')).checkImage!(v1.id)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });
});
