// Images whose layers are zstd (what Docker 29's containerd store saves for images pulled with
// zstd layers): archives made with the zstd program, and by skopeo's --dest-compress-format zstd,
// diffed and applied like gzip ones, the new image rebuilt with its image ID and DiffIDs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageArchive } from '../../src/image/archive-reader.js';
import { applyImageDelta } from '../../src/image/apply-image-delta.js';
import { diffImages } from '../../src/image/diff-images.js';
import { dockerLegacyTar, fixtureText, dockerOciTar, fixtureImage, ociLayoutTar, tarBytes, type FixtureImage } from '../helpers/image-fixtures.js';
import { peer } from '../helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-zstd-images-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

const text = fixtureText;
const baseTar = tarBytes([{ type: 'dir', name: 'bin' }, { type: 'file', name: 'bin/tool', data: text(1, 6000) }]);
const appTar = (edit: string) => tarBytes([{ type: 'dir', name: 'app' }, { type: 'file', name: 'app/main.js', data: text(2, 3000) + edit }]);
const extraTar = tarBytes([{ type: 'file', name: 'app/extra.js', data: text(3, 2000) }]);

/** The image in `path`: its ID, its DiffIDs, each layer's compression, and every layer checked to stream to its DiffID. */
async function opened(path: string) {
  const a = await ImageArchive.open(path);
  try {
    const img = a.image();
    for (const l of img.layers) {
      const h = createHash('sha256');
      for await (const c of a.layerStream(l)) h.update(c);
      expect(`sha256:${h.digest('hex')}`, `${path} ${l.entry}`).toBe(l.diffId);
    }
    const heads = await Promise.all(img.layers.map(async (l) => Buffer.from(await a.readEntry(l.entry)).subarray(0, 4).toString('hex')));
    return { id: img.id, diffIds: img.layers.map((l) => l.diffId), compression: img.layers.map((l) => l.compression), heads, stored: img.layers.map((l) => l.storedSize) };
  } finally {
    await a.close();
  }
}

/** diffImages(old, new) then applyImageDelta onto old: the new image comes back, ID and DiffIDs. */
async function roundTrip(oldName: string, newName: string) {
  const want = await opened(p(newName));
  const s = await diffImages(p(oldName), p(newName), p(`${oldName}-${newName}.rdimg`), { measurePull: true });
  await applyImageDelta(p(oldName), p(`${oldName}-${newName}.rdimg`), p(`${oldName}-${newName}.out.tar`));
  const got = await opened(p(`${oldName}-${newName}.out.tar`));
  expect({ id: got.id, diffIds: got.diffIds }).toEqual({ id: want.id, diffIds: want.diffIds });
  expect(got.compression.every((c) => c === 'none')).toBe(true); // rebuilt images are written uncompressed
  return s;
}

const ZSTD_MAGIC = '28b52ffd';
const zstdPeer = peer('zstd', 'zstd');

describe.skipIf(zstdPeer.skip)(`zstd image archives made with the zstd program ${zstdPeer.message}`, () => {
  const oldZ = fixtureImage([baseTar, appTar('')], { compress: 'zstd', repoTags: ['app:1'] });
  const newZ = fixtureImage([baseTar, appTar('edit\n'), extraTar], { compress: 'zstd', repoTags: ['app:2'] });
  const newPlain = fixtureImage([baseTar, appTar('edit\n'), extraTar], { repoTags: ['app:2'] });
  writeFileSync(p('old-z.tar'), ociLayoutTar([oldZ]));
  writeFileSync(p('new-z.tar'), dockerOciTar([newZ]));
  writeFileSync(p('new-plain.tar'), dockerLegacyTar([newPlain]));

  it('diffs two zstd images and rebuilds the new one onto the zstd old image; a pull would move the zstd layers as stored', async () => {
    expect((await opened(p('old-z.tar'))).compression).toEqual(['zstd', 'zstd']);
    const s = await roundTrip('old-z.tar', 'new-z.tar');
    expect(s.newLayers).toBe(2);
    expect(s.pullBytes).toBe(newZ.blobs[1].length + newZ.blobs[2].length);
  });

  it('diffs a zstd old image against a plain new one, and applies onto the zstd one', async () => {
    const s = await roundTrip('old-z.tar', 'new-plain.tar');
    expect(s.reusedLayers).toBe(1);
  });

  it('a zstd layer whose bytes are not its DiffID is ERR_CHECKSUM; one cut short fails its stream', async () => {
    const liar: FixtureImage = { ...oldZ, blobs: [oldZ.blobs[0], new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: appTar('not this one') }))] };
    writeFileSync(p('liar.tar'), ociLayoutTar([liar]));
    await expect(diffImages(p('liar.tar'), p('new-z.tar'), p('liar.rdimg'))).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
    const cut: FixtureImage = { ...oldZ, blobs: [oldZ.blobs[0].subarray(0, oldZ.blobs[0].length >> 1), oldZ.blobs[1]] };
    writeFileSync(p('cut.tar'), ociLayoutTar([cut]));
    await expect(opened(p('cut.tar'))).rejects.toMatchObject({ code: 'ERR_TRUNCATED', message: expect.stringContaining(oldZ.diffIds[0]) });
  });
});

const skopeoPeer = peer('skopeo', 'skopeo');

describe.skipIf(skopeoPeer.skip)(`zstd image archives written by skopeo ${skopeoPeer.message}`, () => {
  const skopeo = (src: string, dest: string) => execFileSync('skopeo', ['copy', '-q', '--dest-compress-format', 'zstd', `docker-archive:${p(src)}`, `oci-archive:${p(dest)}`], { stdio: ['ignore', 'ignore', 'pipe'] });

  it('skopeo --dest-compress-format zstd writes zstd layers; diff and apply between them, and from one to a plain image', async () => {
    const oldPlain = fixtureImage([baseTar, appTar('')], { repoTags: ['app:1'] });
    const newPlain = fixtureImage([baseTar, appTar('edit\n'), extraTar], { repoTags: ['app:2'] });
    writeFileSync(p('sk-old.tar'), dockerLegacyTar([oldPlain]));
    writeFileSync(p('sk-new.tar'), dockerLegacyTar([newPlain]));
    skopeo('sk-old.tar', 'sk-old-zstd.tar:app:1');
    skopeo('sk-new.tar', 'sk-new-zstd.tar:app:2');
    const oldZ = await opened(p('sk-old-zstd.tar'));
    // really zstd, the layers the same (skopeo rewrites the config: a new image ID)
    expect(oldZ.heads).toEqual([ZSTD_MAGIC, ZSTD_MAGIC]);
    expect(oldZ.compression).toEqual(['zstd', 'zstd']);
    expect(oldZ.diffIds).toEqual(oldPlain.diffIds);
    const newZ = await opened(p('sk-new-zstd.tar'));
    expect(newZ.heads).toEqual([ZSTD_MAGIC, ZSTD_MAGIC, ZSTD_MAGIC]);
    const s = await roundTrip('sk-old-zstd.tar', 'sk-new-zstd.tar');
    expect(s.pullBytes).toBe(newZ.stored[1] + newZ.stored[2]);
    await roundTrip('sk-old-zstd.tar', 'sk-new.tar');
  }, 60_000);
});
