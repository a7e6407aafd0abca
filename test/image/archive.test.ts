// ImageArchive over every archive form: synthetic fixtures of each layout (plain, gzip, links,
// nested indexes, multi-image), hostile inputs, and the real thing: docker save from a private
// engine, converted by skopeo to oci-archive, docker-archive and a Docker 25 style layout.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolldeltaError } from '../../src/core/errors.js';
import { ImageArchive } from '../../src/image/archive-reader.js';
import type { ImageRecord } from '../../src/image/image-types.js';
import { indexTarFile } from '../../src/image/tar-file-index.js';
import { FileBasis } from '../../src/stream/file-basis.js';
import { type Dockerd, dockerdAvailable, requirePeer, startDockerd } from '../helpers/dockerd.js';
import { dockerLegacyTar, fixtureText, dockerOciFromOciDir, dockerOciTar, fixtureImage, ociLayoutTar, sha, skopeoDockerTar, tarBytes, type FixtureImage } from '../helpers/image-fixtures.js';
import { buildApp, importBusybox, saveToFile } from '../helpers/images.js';
import { peer } from '../helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

const text = fixtureText;
const baseTar = tarBytes([{ type: 'dir', name: 'bin' }, { type: 'file', name: 'bin/tool', data: text(1, 4000) }]);
const appTar = tarBytes([{ type: 'dir', name: 'app' }, { type: 'file', name: 'app/main.js', data: text(2, 500) }]);
const otherTar = tarBytes([{ type: 'file', name: 'other.txt', data: text(3, 50) }]);

async function layerDigest(a: ImageArchive, layer: ImageRecord['layers'][number]): Promise<string> {
  const h = createHash('sha256');
  for await (const c of a.layerStream(layer)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

async function basisDigest(a: ImageArchive, layer: ImageRecord['layers'][number]): Promise<string | undefined> {
  const b = a.layerBasis(layer);
  if (!b) return undefined;
  return sha(await b.read(0, b.length));
}

/** Opens `bytes` as an archive, checks every layer streams to its DiffID, returns a summary. */
async function summary(name: string, bytes: Uint8Array | undefined, opts?: { image?: string }) {
  if (bytes) writeFileSync(p(name), bytes);
  const a = await ImageArchive.open(p(name), opts);
  try {
    for (const img of a.images) {
      for (const l of img.layers) {
        expect(await layerDigest(a, l)).toBe(l.diffId);
        const b = await basisDigest(a, l);
        if (l.compression === 'none') expect(b).toBe(l.diffId);
        else expect(b).toBeUndefined();
      }
      expect(img.id).toBe(sha(img.config));
    }
    return { format: a.format, images: a.images.map((i) => ({ id: i.id, diffIds: i.layers.map((l) => l.diffId), repoTags: i.repoTags, compression: i.layers.map((l) => l.compression) })) };
  } finally {
    await a.close();
  }
}

describe('image archives: every layout', () => {
  const plain = fixtureImage([baseTar, appTar]);
  const gz = fixtureImage([baseTar, appTar], { compress: 'gzip' });
  const want = { id: plain.id, diffIds: plain.diffIds };

  it('docker-legacy, docker-oci (plain and gzip), oci (flat, nested index, ./ names) and skopeo-docker give the same image', async () => {
    const cases: Array<[string, Uint8Array, string, FixtureImage]> = [
      ['legacy.tar', dockerLegacyTar([plain]), 'docker-legacy', plain],
      ['docker-oci.tar', dockerOciTar([plain]), 'docker-oci', plain],
      ['docker-oci-gz.tar', dockerOciTar([gz]), 'docker-oci', gz],
      ['oci.tar', ociLayoutTar([gz]), 'oci', gz],
      ['oci-nested.tar', ociLayoutTar([plain], { nested: true }), 'oci', plain],
      ['oci-dot.tar', ociLayoutTar([gz], { dotSlash: true }), 'oci', gz],
      ['skopeo.tar', skopeoDockerTar([plain]), 'skopeo-docker', plain],
    ];
    for (const [name, bytes, format, img] of cases) {
      const s = await summary(name, bytes);
      expect(s.format, name).toBe(format);
      expect(s.images, name).toHaveLength(1);
      expect(s.images[0], name).toMatchObject(want);
      expect(s.images[0].repoTags, name).toEqual(['app:1'].map((t) => (format === 'skopeo-docker' ? `docker.io/library/${t}` : t)));
      expect(s.images[0].compression, name).toEqual(img === gz ? ['gzip', 'gzip'] : ['none', 'none']);
    }
  });

  it('multi-image archives: a shared layer stored once and linked (symlink or hardlink) is followed; opts.image picks one', async () => {
    const a = fixtureImage([baseTar, appTar], { repoTags: ['app:1'] });
    const b = fixtureImage([baseTar, otherTar, appTar], { repoTags: ['app:2'] });
    for (const link of ['symlink', 'hardlink'] as const) {
      const s = await summary(`multi-${link}.tar`, dockerLegacyTar([a, b], { link }));
      expect(s.images.map((i) => i.id)).toEqual([a.id, b.id]);
      expect(s.images[1].diffIds).toEqual(b.diffIds);
    }
    const picked = await summary('multi-symlink.tar', undefined, { image: 'app:2' });
    expect(picked.images.map((i) => i.id)).toEqual([b.id]);
    expect((await summary('multi-symlink.tar', undefined, { image: b.id.slice(7, 19) })).images[0].id).toBe(b.id);
    expect((await summary('multi-symlink.tar', undefined, { image: 'docker.io/library/app:1' })).images[0].id).toBe(a.id);
    await expect(ImageArchive.open(p('multi-symlink.tar'), { image: 'app:3' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const open = await ImageArchive.open(p('multi-symlink.tar'));
    try {
      expect(() => open.image()).toThrow(RolldeltaError);
      expect(open.image('app:1').id).toBe(a.id);
      expect(new TextDecoder().decode(await open.readEntry('manifest.json'))).toContain('app:2');
    } finally {
      await open.close();
    }
  });

  it('a zstd layer is read; an xz or bzip2 one is ERR_UNSUPPORTED, named, with how to re-save the image', async () => {
    const check = peer('zstd', 'zstd');
    if (!check.skip) {
      const z = fixtureImage([baseTar], { compress: 'zstd' });
      expect((await summary('zstd.tar', ociLayoutTar([z]))).images[0]).toMatchObject({ diffIds: z.diffIds, compression: ['zstd'] });
      // One that begins with a skippable frame (metadata a writer put first) is zstd too.
      const skip = Uint8Array.from([0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
      const led = { ...z, blobs: [Uint8Array.from([...skip, ...z.blobs[0]])] };
      expect((await summary('zstd-skippable.tar', ociLayoutTar([led]))).images[0]).toMatchObject({ diffIds: z.diffIds, compression: ['zstd'] });
    }
    const xz = { ...plain, blobs: [Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 4, 0xe6, 0xd6), plain.blobs[1]] };
    const bz = { ...plain, blobs: [new TextEncoder().encode('BZh91AY&SY and the rest'), plain.blobs[1]] };
    for (const [name, img, kind] of [['xz.tar', xz, 'xz'], ['bzip2.tar', bz, 'bzip2']] as const) {
      writeFileSync(p(name), ociLayoutTar([img]));
      await expect(ImageArchive.open(p(name))).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(new RegExp(`layer 0 .* is ${kind}-compressed.*skopeo copy --dest-compress-format gzip`)) });
    }
  });

  it('hostile archives are RolldeltaErrors: truncated, garbage manifest, references outside the archive, loops, size lies', async () => {
    const good = dockerLegacyTar([plain]);
    const cfg = `${plain.id.slice(7)}.json`;
    const withManifest = (m: unknown, extra: Parameters<typeof tarBytes>[0] = []) =>
      tarBytes([{ type: 'file', name: cfg, data: plain.config }, ...extra, { type: 'file', name: 'manifest.json', data: typeof m === 'string' ? m : JSON.stringify(m) }]);
    const cases: Record<string, Uint8Array> = {
      'truncated-content': good.subarray(0, 1500),
      'truncated-header': good.subarray(0, 512 * 3 + 100),
      'bad-checksum': Uint8Array.from(good, (b, i) => (i === 10 ? b ^ 0xff : b)),
      garbage: withManifest('{not json'),
      'not-a-list': withManifest({ Config: 1 }),
      'no-config': withManifest([{ Layers: [] }]),
      'dot-dot': withManifest([{ Config: '../etc/passwd', Layers: [] }]),
      absolute: withManifest([{ Config: '/etc/passwd', Layers: [] }]),
      'missing-layer': withManifest([{ Config: cfg, Layers: ['nope/layer.tar', 'x/layer.tar'] }]),
      'layer-count': withManifest([{ Config: cfg, Layers: [] }]),
      'symlink-escape': withManifest([{ Config: cfg, Layers: ['a/layer.tar', 'b/layer.tar'] }], [{ type: 'symlink', name: 'a/layer.tar', target: '../../etc/passwd' }, { type: 'file', name: 'b/layer.tar', data: appTar }]),
      'link-loop': withManifest([{ Config: cfg, Layers: ['a/layer.tar', 'b/layer.tar'] }], [{ type: 'symlink', name: 'a/layer.tar', target: '../b/layer.tar' }, { type: 'symlink', name: 'b/layer.tar', target: '../a/layer.tar' }]),
      'bad-diffid': tarBytes([{ type: 'file', name: 'c.json', data: '{"rootfs":{"diff_ids":["md5:x"]}}' }, { type: 'file', name: 'l.tar', data: baseTar }, { type: 'file', name: 'manifest.json', data: '[{"Config":"c.json","Layers":["l.tar"]}]' }]),
      'oci-size-lie': (() => {
        const t = ociLayoutTar([plain]);
        writeFileSync(p('tmp-oci.tar'), t);
        return t;
      })(),
      'no-index': tarBytes([{ type: 'file', name: 'hello', data: 'x' }]),
      'unsafe-name': tarBytes([{ type: 'file', name: '../manifest.json', data: '[]' }]),
      empty: new Uint8Array(0),
      'not-tar': new TextEncoder().encode('x'.repeat(2000)),
    };
    // the OCI size lie: the manifest declares a layer size the blob does not have
    const lie = new TextDecoder('latin1').decode(cases['oci-size-lie']).replace(`"size":${plain.blobs[0].length}`, `"size":${plain.blobs[0].length + 1}`);
    cases['oci-size-lie'] = Uint8Array.from(lie, (c) => c.charCodeAt(0));
    for (const [name, bytes] of Object.entries(cases)) {
      writeFileSync(p(`h-${name}.tar`), bytes);
      const r = await ImageArchive.open(p(`h-${name}.tar`)).then(
        async (a) => (await a.close(), 'opened'),
        (e) => e,
      );
      expect(r, name).toBeInstanceOf(RolldeltaError);
    }
  });

  it('another kind of file is named and said to be no image archive; a tar damaged further on keeps its code, naming the file', async () => {
    const good = dockerLegacyTar([plain]);
    const opened = async (name: string, bytes: Uint8Array) => {
      writeFileSync(p(name), bytes);
      return ImageArchive.open(p(name)).then(
        async (a) => (await a.close(), undefined),
        (e: RolldeltaError) => ({ code: e.code, message: e.message }),
      );
    };
    const notTar = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
    expect(await opened('random.bin', notTar)).toEqual({ code: 'ERR_BAD_MAGIC', message: `${p('random.bin')} is not an image archive (a \`docker save\` or OCI layout tar): it does not start with a tar header` });
    expect(await opened('short.txt', new TextEncoder().encode('hello\n'))).toMatchObject({ code: 'ERR_BAD_MAGIC', message: expect.stringContaining(`${p('short.txt')} is not an image archive`) });
    expect(await opened('plain.tar', tarBytes([{ type: 'file', name: 'hello.txt', data: 'hi' }]))).toEqual({
      code: 'ERR_BAD_MAGIC',
      message: `${p('plain.tar')} is a tar but not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout) at its root`,
    });
    expect(await opened('saved.tar.gz', gzipSync(good))).toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringContaining(`\`gunzip -k ${p('saved.tar.gz')}\``) });
    expect(await opened('swapped.rdimg', Uint8Array.of(0x72, 0x64, 0x69, 0x6d, 1, ...new Array(600).fill(0)))).toMatchObject({ code: 'ERR_BAD_MAGIC', message: expect.stringContaining(`${p('swapped.rdimg')} is an image delta file, not an image archive`) });
    await expect(ImageArchive.open(p('nonexist.tar'))).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot open the image archive ${p('nonexist.tar')}: no such file or directory` });
    expect(await opened('empty.tar', new Uint8Array(0))).toMatchObject({ code: 'ERR_TRUNCATED', message: expect.stringContaining(`${p('empty.tar')} is empty`) });
    // past a valid first header: the tar reader's own codes, with the file's name in front
    const index = await indexTarFile({ length: good.length, read: (at, n) => good.subarray(at, at + n) });
    const lastHeader = index.get('manifest.json')!.dataOffset - 512;
    const damaged = Uint8Array.from(good, (b, i) => (i === lastHeader + 10 ? b ^ 0xff : b));
    expect(await opened('damaged.tar', damaged)).toMatchObject({ code: 'ERR_CHECKSUM', message: expect.stringMatching(new RegExp(`^${p('damaged.tar')}: tar header checksum mismatch`)) });
    expect(await opened('cut.tar', good.subarray(0, 1500))).toMatchObject({ code: 'ERR_TRUNCATED', message: expect.stringMatching(new RegExp(`^${p('cut.tar')}: the archive ends inside`)) });
    // a damaged first header that still carries the ustar magic is a damaged tar, not another kind of file
    expect(await opened('first.tar', Uint8Array.from(good, (b, i) => (i === 10 ? b ^ 0xff : b)))).toMatchObject({ code: 'ERR_CHECKSUM' });
  });

  it('fuzz: damaged archives of every layout open or fail with a RolldeltaError, and so do their layer streams', async () => {
    const seeds = [dockerLegacyTar([plain]), dockerOciTar([gz]), ociLayoutTar([gz], { nested: true }), skopeoDockerTar([plain])];
    const damage = fc.record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
    });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(damage, async ({ seed, edits, cut }) => {
        const src = seeds[seed];
        // half the edits land in the first 4 KiB, where headers and metadata are dense
        const bytes = src.slice(0, cut === undefined ? src.length : cut % (src.length + 1));
        for (const [at, v] of edits) if (bytes.length > 0) bytes[at % 2 === 0 ? (at >> 1) % Math.min(bytes.length, 4096) : (at >> 1) % bytes.length] = v;
        const file = p(`fuzz-${n++ % 4}.tar`);
        writeFileSync(file, bytes);
        try {
          const a = await ImageArchive.open(file);
          try {
            for (const img of a.images) for (const l of img.layers) await layerDigest(a, l);
          } finally {
            await a.close();
          }
        } catch (e) {
          if (!(e instanceof RolldeltaError)) throw e;
        }
      }),
      { numRuns: 300, seed: 20261123 },
    );
  });

  it('a gzip layer cut short or damaged fails its stream with a RolldeltaError', async () => {
    const cut = { ...gz, blobs: [gz.blobs[0].subarray(0, gz.blobs[0].length >> 1), gz.blobs[1]] };
    writeFileSync(p('gz-cut.tar'), dockerOciTar([cut]));
    const a = await ImageArchive.open(p('gz-cut.tar'));
    try {
      await expect(layerDigest(a, a.images[0].layers[0])).rejects.toMatchObject({ code: expect.stringMatching(/ERR_TRUNCATED|ERR_CORRUPT/) });
    } finally {
      await a.close();
    }
  });

  it('the tar index reads headers only: a layer of 64 MiB is indexed with a handful of reads', async () => {
    const big = new Uint8Array(64 << 20);
    const t = tarBytes([{ type: 'file', name: 'big', data: big }, { type: 'file', name: 'small', data: 'x' }]);
    writeFileSync(p('big.tar'), t);
    const f = await FileBasis.open(p('big.tar'));
    let bytesRead = 0;
    const counted = { length: f.length, read: (pos: number, n: number) => ((bytesRead += n), f.read(pos, n)) };
    try {
      const idx = await indexTarFile(counted);
      expect(idx.get('small')).toMatchObject({ size: 1, dataOffset: 512 + (64 << 20) + 512 });
      expect(bytesRead).toBeLessThan(16 << 10);
    } finally {
      await f.close();
    }
  });
});

const dockerPeer = requirePeer('dockerd', dockerdAvailable());
const skopeoPeer = peer('skopeo', 'skopeo');

describe.skipIf(dockerPeer.skip || skopeoPeer.skip)(`image archives from a real engine and skopeo ${dockerPeer.message}${skopeoPeer.message}`, () => {
  let d: Dockerd;
  beforeAll(async () => {
    d = await startDockerd();
    await importBusybox(d.engine, 'rdbase:1');
    await buildApp(d.engine, 'rdbase:1', 'rdapp:1', { 'a.txt': 'hello\n' }, 'COPY a.txt /a.txt\nRUN echo built > /b.txt');
    await buildApp(d.engine, 'rdbase:1', 'rdapp:2', { 'a.txt': 'hello\n' }, 'RUN echo other > /c.txt\nCOPY a.txt /a.txt');
  }, 180_000);
  afterAll(async () => d?.stop(), 60_000);

  it('docker save opens to what inspect says; skopeo oci-archive, docker-archive and a Docker 25 layout give the same ids', async () => {
    await saveToFile(d.engine, ['rdapp:1'], p('real.tar'));
    const info = await d.engine.inspectImage('rdapp:1');
    const real = await summary('real.tar', undefined);
    expect(real.format).toBe('docker-legacy');
    expect(real.images).toEqual([expect.objectContaining({ id: info!.Id, diffIds: info!.RootFS!.Layers, repoTags: ['rdapp:1'] })]);
    const skopeo = (...args: string[]) => execFileSync('skopeo', ['copy', '-q', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const src = `docker-archive:${p('real.tar')}`;
    skopeo('--format', 'v2s2', src, `oci-archive:${p('real-oci.tar')}:rdapp:1`);
    skopeo(src, `docker-archive:${p('real-skopeo.tar')}:rdapp:1`);
    skopeo('--format', 'v2s2', src, `oci:${p('real-ocidir')}:rdapp:1`);
    dockerOciFromOciDir(p('real-ocidir'), p('real-docker-oci-gz.tar'), ['rdapp:1']);
    const want = { id: info!.Id, diffIds: info!.RootFS!.Layers };
    const oci = await summary('real-oci.tar', undefined);
    expect([oci.format, oci.images[0].compression.every((c) => c === 'gzip')]).toEqual(['oci', true]);
    expect(oci.images[0]).toMatchObject({ ...want, repoTags: ['rdapp:1'] });
    const sk = await summary('real-skopeo.tar', undefined);
    expect(sk.format).toBe('skopeo-docker');
    expect(sk.images[0]).toMatchObject({ ...want, repoTags: ['docker.io/library/rdapp:1'] });
    const dgz = await summary('real-docker-oci-gz.tar', undefined);
    expect([dgz.format, dgz.images[0].compression[0]]).toEqual(['docker-oci', 'gzip']);
    expect(dgz.images[0]).toMatchObject(want);
    // the uncompressed Docker 25 variant, built from the save's own layer blobs
    const a = await ImageArchive.open(p('real.tar'));
    try {
      const img = a.images[0];
      const blobs: Uint8Array[] = [];
      for (const l of img.layers) blobs.push(await a.readEntry(l.entry));
      writeFileSync(p('real-docker-oci.tar'), dockerOciTar([{ config: img.config, id: img.id, diffIds: img.layers.map((l) => l.diffId), blobs, repoTags: ['rdapp:1'] }]));
    } finally {
      await a.close();
    }
    const dplain = await summary('real-docker-oci.tar', undefined);
    expect([dplain.format, dplain.images[0].compression[0]]).toEqual(['docker-oci', 'none']);
    expect(dplain.images[0]).toMatchObject(want);
  }, 120_000);

  it('a multi-image save links the shared layer; both images open as inspect says', async () => {
    await saveToFile(d.engine, ['rdapp:1', 'rdapp:2'], p('real-multi.tar'));
    const f = await FileBasis.open(p('real-multi.tar'));
    const index = await indexTarFile(f).finally(() => f.close());
    expect([...index.values()].some((e) => e.type === 'symlink')).toBe(true);
    const s = await summary('real-multi.tar', undefined);
    for (const tag of ['rdapp:1', 'rdapp:2']) {
      const info = await d.engine.inspectImage(tag);
      expect(s.images.find((i) => i.repoTags.includes(tag))).toMatchObject({ id: info!.Id, diffIds: info!.RootFS!.Layers });
    }
  }, 60_000);
});
