// dockerArchiveChunks / writeDockerArchive: round trips through ImageArchive, digest checks that
// fire mid-stream with the layer's last bytes held back, and `docker load` of what it writes into
// a real engine (whole, with layers the engine has left out, and broken on purpose).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RolldeltaError } from '../../src/core/errors.js';
import { ImageArchive } from '../../src/image/archive-reader.js';
import { dockerArchiveChunks, writeDockerArchive, type OutputImage } from '../../src/image/docker-archive-writer.js';
import { indexTarFile } from '../../src/image/tar-file-index.js';
import { FileBasis } from '../../src/stream/file-basis.js';
import { type Dockerd, dockerdAvailable, requirePeer, startDockerd } from '../helpers/dockerd.js';
import { fixtureImage, ociLayoutTar, sha, tarBytes } from '../helpers/image-fixtures.js';
import { buildApp, importBusybox, saveToFile } from '../helpers/images.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

/** The OutputImage of an opened archive's image; `omit` leaves those layer indexes out, `corrupt` flips a byte of one. */
function outputOf(a: ImageArchive, opts: { omit?: number[]; corrupt?: number; repoTags?: string[] } = {}): OutputImage {
  const img = a.images[0];
  return {
    config: img.config,
    id: img.id,
    repoTags: opts.repoTags ?? img.repoTags,
    layers: img.layers.map((l, i) => ({
      diffId: l.diffId,
      size: sizeOf.get(l.diffId) ?? -1,
      content: opts.omit?.includes(i)
        ? undefined
        : async function* () {
            let first = true;
            for await (const c of a.layerStream(l)) {
              if (opts.corrupt === i && first) {
                c[c.length >> 1] ^= 1;
                first = false;
              }
              yield c;
            }
          },
    })),
  };
}

/** Uncompressed layer sizes, measured by streaming. */
const sizeOf = new Map<string, number>();
async function measure(a: ImageArchive): Promise<void> {
  for (const l of a.images[0].layers) {
    let n = 0;
    for await (const c of a.layerStream(l)) n += c.length;
    sizeOf.set(l.diffId, n);
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const c of chunks) bytes += c.length;
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

describe('docker archive writer', () => {
  const layers = [tarBytes([{ type: 'file', name: 'a.txt', data: 'a'.repeat(100_000) }]), tarBytes([{ type: 'file', name: 'b.txt', data: 'b\n' }]), tarBytes([{ type: 'file', name: 'a.txt', data: 'a'.repeat(100_000) }])];
  const img = fixtureImage(layers, { compress: 'gzip', repoTags: ['app:1'] });
  let src: ImageArchive;
  beforeAll(async () => {
    writeFileSync(p('src.tar'), ociLayoutTar([img]));
    src = await ImageArchive.open(p('src.tar'));
    await measure(src);
  });
  afterAll(() => src?.close());

  it('writes a docker-legacy archive that reads back to the same image (a layer repeated in the stack included)', async () => {
    await writeDockerArchive(p('out.tar'), outputOf(src));
    const out = await ImageArchive.open(p('out.tar'));
    try {
      expect(out.format).toBe('docker-legacy');
      expect(out.images).toHaveLength(1);
      expect(out.images[0]).toMatchObject({ id: img.id, repoTags: ['app:1'] });
      expect(out.images[0].layers.map((l) => [l.diffId, l.compression])).toEqual(img.diffIds.map((d) => [d, 'none']));
      for (const l of out.images[0].layers) {
        const b = out.layerBasis(l)!;
        expect(sha(await b.read(0, b.length))).toBe(l.diffId);
      }
      expect(JSON.parse(new TextDecoder().decode(await out.readEntry('repositories')))).toEqual({ app: { '1': expect.stringMatching(/^[0-9a-f]{64}$/) } });
    } finally {
      await out.close();
    }
    const f = await FileBasis.open(p('out.tar'));
    const names = [...(await indexTarFile(f).finally(() => f.close())).keys()];
    expect(names.filter((n) => n.endsWith('/VERSION'))).toHaveLength(3);
    expect(names.filter((n) => n.endsWith('/json'))).toHaveLength(3);
    expect(names.slice(-2)).toEqual(['manifest.json', 'repositories']);
  });

  it('omitted layers leave their layer.tar out while manifest.json still names it', async () => {
    await writeDockerArchive(p('omit.tar'), outputOf(src, { omit: [0, 2] }));
    const f = await FileBasis.open(p('omit.tar'));
    const idx = await indexTarFile(f).finally(() => f.close());
    expect([...idx.keys()].filter((n) => n.endsWith('layer.tar'))).toHaveLength(1);
    await expect(ImageArchive.open(p('omit.tar'))).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
  });

  it('a wrong layer is ERR_CHECKSUM before the layer ends: its last bytes are never emitted, no file is left', async () => {
    for (const corrupt of [0, 1]) {
      const r = await collect(dockerArchiveChunks(outputOf(src, { corrupt })));
      expect(r.error).toBeInstanceOf(RolldeltaError);
      expect((r.error as RolldeltaError).code).toBe('ERR_CHECKSUM');
      // everything up to the bad layer's header and all but its last chunk: the archive stops inside it
      const good = await collect(dockerArchiveChunks(outputOf(src)));
      expect(r.bytes).toBeLessThan(good.bytes);
      await expect(writeDockerArchive(p(`bad-${corrupt}.tar`), outputOf(src, { corrupt }))).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
      expect(existsSync(p(`bad-${corrupt}.tar`))).toBe(false);
    }
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const tooLong = outputOf(src);
    tooLong.layers[1].size -= 1;
    expect((await collect(dockerArchiveChunks(tooLong))).error).toMatchObject({ code: 'ERR_CHECKSUM' });
  });

  it('a config that is not the image ID, or whose diff_ids are not the layers, fails before the first byte', async () => {
    const wrongId = { ...outputOf(src), id: sha('x') };
    expect(await collect(dockerArchiveChunks(wrongId))).toMatchObject({ bytes: 0, error: expect.objectContaining({ code: 'ERR_CHECKSUM' }) });
    const swapped = outputOf(src);
    [swapped.layers[0], swapped.layers[1]] = [swapped.layers[1], swapped.layers[0]];
    expect(await collect(dockerArchiveChunks(swapped))).toMatchObject({ bytes: 0, error: expect.objectContaining({ code: 'ERR_CHECKSUM' }) });
    const badSize = outputOf(src);
    badSize.layers[0].size = -1;
    expect(await collect(dockerArchiveChunks(badSize))).toMatchObject({ bytes: 0, error: expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }) });
  });
});

const dockerPeer = requirePeer('dockerd', dockerdAvailable());

describe.skipIf(dockerPeer.skip)(`docker load of written archives ${dockerPeer.message}`, () => {
  let d: Dockerd;
  let a: ImageArchive;
  const docker = (...args: string[]) => execFileSync('docker', ['-H', `unix://${d.socketPath}`, ...args], { encoding: 'utf8' });
  beforeAll(async () => {
    d = await startDockerd();
    await importBusybox(d.engine, 'wbase:1');
    await buildApp(d.engine, 'wbase:1', 'wapp:1', { 'a.txt': 'hello from the app\n' }, 'COPY a.txt /a.txt\nRUN echo built > /b.txt');
    await saveToFile(d.engine, ['wapp:1'], p('wapp.tar'));
    a = await ImageArchive.open(p('wapp.tar'));
    await measure(a);
  }, 180_000);
  afterAll(async () => {
    await a?.close();
    await d?.stop();
  }, 60_000);

  it('loads whole, then with the layers the engine has left out, and runs', async () => {
    const id = a.images[0].id;
    await d.engine.removeImage('wapp:1');
    expect(await d.engine.hasImage(id)).toBe(false);
    await d.engine.loadImage(dockerArchiveChunks(outputOf(a, { repoTags: ['wapp:whole'] })));
    expect((await d.engine.inspectImage('wapp:whole'))?.Id).toBe(id);
    expect((await d.engine.run('wapp:whole', ['cat', '/a.txt', '/b.txt'])).stdout).toBe('hello from the app\nbuilt\n');
    await d.engine.removeImage('wapp:whole');
    // the base layer is still in the engine (wbase:1): leave it out of the archive
    const chunks = dockerArchiveChunks(outputOf(a, { omit: [0], repoTags: ['wapp:thin'] }));
    const r = await d.engine.loadImage(chunks);
    expect(r.loaded).toContain('wapp:thin');
    expect((await d.engine.inspectImage('wapp:thin'))?.Id).toBe(id);
    expect((await d.engine.run('wapp:thin', ['cat', '/a.txt'])).stdout).toBe('hello from the app\n');
    await d.engine.removeImage('wapp:thin');
  }, 120_000);

  it('a wrong layer fails the load mid-stream and the engine ends up with no new image', async () => {
    const before = docker('images', '-a', '-q', '--no-trunc').split('\n').sort().join(' ');
    const err = await d.engine.loadImage(dockerArchiveChunks(outputOf(a, { corrupt: 2, repoTags: ['wapp:bad'] }))).then(
      () => undefined,
      (e) => e,
    );
    expect(err).toBeInstanceOf(RolldeltaError);
    expect(err.code).toBe('ERR_CHECKSUM');
    expect(await d.engine.hasImage('wapp:bad')).toBe(false);
    expect(await d.engine.hasImage(a.images[0].id)).toBe(false);
    const after = docker('images', '-a', '-q', '--no-trunc').split('\n').sort().join(' ');
    expect(after).toBe(before);
  }, 120_000);
});
