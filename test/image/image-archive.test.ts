// Image archives and image deltas without a Docker Engine: synthetic `docker save` and OCI
// archives (made with the test's own independent tar writer), diff and apply round trips with
// layers moved, squashed and gzip-compressed, and hostile inputs.
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageArchive, RolldeltaError, applyImageDelta, diffImages } from '../../src/index.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { makeTar, type TarEntry } from '../helpers/images.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-imgarch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const enc = new TextEncoder();

/** A text file of `n` lines, different per seed. */
function text(seed: number, n = 3000): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`line ${i} of file ${seed}: ${((i + 1) * (seed + 7) * 2654435761) % 1000003}`);
  return out.join('\n');
}

/** A docker-save style archive of one image whose layers are the given file lists. */
function dockerArchive(layers: TarEntry[][], opts: { gzip?: boolean; tag?: string; oci?: boolean } = {}): Uint8Array {
  const tars = layers.map((l) => makeTar(l));
  const config = enc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(sha) } }));
  const blobs = tars.map((t) => (opts.gzip ? gzipSync(t) : t));
  const hex = (b: Uint8Array) => sha(b).slice(7);
  if (opts.oci) {
    const manifest = enc.encode(
      JSON.stringify({ schemaVersion: 2, config: { digest: sha(config), size: config.length }, layers: blobs.map((b) => ({ digest: sha(b), size: b.length })) }),
    );
    return makeTar([
      { type: 'file', path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { type: 'file', path: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ digest: sha(manifest), size: manifest.length }] }) },
      { type: 'file', path: `blobs/sha256/${hex(manifest)}`, data: manifest },
      { type: 'file', path: `blobs/sha256/${hex(config)}`, data: config },
      ...blobs.map((b): TarEntry => ({ type: 'file', path: `blobs/sha256/${hex(b)}`, data: b })),
    ]);
  }
  const paths = tars.map((t) => `${hex(t)}/layer.tar`);
  return makeTar([
    ...blobs.map((b, i): TarEntry => ({ type: 'file', path: paths[i], data: b })),
    { type: 'file', path: `${hex(config)}.json`, data: config },
    { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: `${hex(config)}.json`, RepoTags: [opts.tag ?? 'app:1'], Layers: paths }]) },
  ]);
}

const base: TarEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'file', path: 'bin/tool', data: text(1) },
  { type: 'file', path: 'etc/config', data: text(2, 50) },
];
const app = (edit: string): TarEntry[] => [
  { type: 'dir', path: 'app' },
  { type: 'file', path: 'app/main.js', data: `${text(3)}\n${edit}` },
  { type: 'file', path: 'app/lib.js', data: text(4) },
];

async function roundTrip(oldTar: Uint8Array, newTar: Uint8Array, name: string) {
  writeFileSync(p(`${name}-old.tar`), oldTar);
  writeFileSync(p(`${name}-new.tar`), newTar);
  const summary = await diffImages(p(`${name}-old.tar`), p(`${name}-new.tar`), p(`${name}.rdimg`));
  await applyImageDelta(p(`${name}-old.tar`), p(`${name}.rdimg`), p(`${name}-out.tar`));
  const want = await ImageArchive.open(p(`${name}-new.tar`));
  const got = await ImageArchive.open(p(`${name}-out.tar`));
  try {
    const [w, g] = [want.image(), got.image()];
    expect(g.id).toBe(w.id);
    expect(g.layers.map((l) => l.diffId)).toEqual(w.layers.map((l) => l.diffId));
    for (const layer of g.layers) {
      const h = createHash('sha256');
      for await (const c of got.layerStream(layer)) h.update(c);
      expect(`sha256:${h.digest('hex')}`).toBe(layer.diffId);
    }
  } finally {
    await want.close();
    await got.close();
  }
  return summary;
}

describe('image archives', () => {
  it('reads docker save and OCI layouts, plain and gzip layers, to the same image', async () => {
    const layers = [base, app('v1')];
    const variants = [dockerArchive(layers), dockerArchive(layers, { gzip: true }), dockerArchive(layers, { oci: true }), dockerArchive(layers, { oci: true, gzip: true })];
    const seen = new Set<string>();
    for (const [i, bytes] of variants.entries()) {
      writeFileSync(p(`v${i}.tar`), bytes);
      const a = await ImageArchive.open(p(`v${i}.tar`));
      try {
        const img = a.image();
        seen.add(`${img.id} ${img.layers.map((l) => l.diffId).join()}`);
        expect(img.layers.every((l) => l.compression === (i % 2 ? 'gzip' : 'none'))).toBe(true);
        for (const layer of img.layers) {
          const h = createHash('sha256');
          for await (const c of a.layerStream(layer)) h.update(c);
          expect(`sha256:${h.digest('hex')}`).toBe(layer.diffId);
        }
      } finally {
        await a.close();
      }
    }
    expect(seen.size).toBe(1);
  });

  it('opens zstd layers (a cut one fails its stream, naming it); refuses xz layers with ERR_UNSUPPORTED', async () => {
    // a zstd frame cut after its first (empty, not last) block; an xz header
    const blobs = { zstd: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0), xz: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 0, 4, 0xe6, 0xd6) };
    const config = enc.encode(JSON.stringify({ rootfs: { diff_ids: [sha(new Uint8Array(1))] } }));
    for (const [kind, blob] of Object.entries(blobs)) {
      writeFileSync(
        p(`${kind}.tar`),
        makeTar([
          { type: 'file', path: 'l/layer.tar', data: blob },
          { type: 'file', path: 'c.json', data: config },
          { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['l/layer.tar'] }]) },
        ]),
      );
    }
    const a = await ImageArchive.open(p('zstd.tar'));
    try {
      const layer = a.images[0].layers[0];
      expect(layer.compression).toBe('zstd');
      const drain = async () => {
        for await (const c of a.layerStream(layer)) void c;
      };
      await expect(drain()).rejects.toMatchObject({ code: 'ERR_TRUNCATED', message: expect.stringContaining('l/layer.tar') });
    } finally {
      await a.close();
    }
    await expect(ImageArchive.open(p('xz.tar'))).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringContaining('xz-compressed') });
  });

  it('hostile archives give a RolldeltaError: truncation, garbage manifest, paths outside the archive', async () => {
    const good = dockerArchive([base]);
    const cases: Record<string, Uint8Array> = {
      truncated: good.subarray(0, 1500),
      garbage: makeTar([{ type: 'file', path: 'manifest.json', data: '{not json' }]),
      outside: makeTar([{ type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: '../etc/passwd', Layers: [] }]) }]),
      notalist: makeTar([{ type: 'file', path: 'manifest.json', data: '{"Config": 1}' }]),
      empty: new Uint8Array(0),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      writeFileSync(p(`h-${name}.tar`), bytes);
      await expect(ImageArchive.open(p(`h-${name}.tar`)), name).rejects.toBeInstanceOf(RolldeltaError);
    }
  });
});

describe('image deltas', () => {
  it('a one-line edit costs a few hundred bytes; the base layer is reused', async () => {
    const s = await roundTrip(dockerArchive([base, app('v1')]), dockerArchive([base, app('v2')]), 'edit');
    expect(s.reusedLayers).toBe(1);
    expect(s.deltaBytes).toBeLessThan(1000);
  });

  it('diffImages hands the delta to a consumer; both stop at an aborted signal, leaving nothing', async () => {
    writeFileSync(p('abort-old.tar'), dockerArchive([base, app('v1')]));
    writeFileSync(p('abort-new.tar'), dockerArchive([base, app('v2')]));
    const toFile = await diffImages(p('abort-old.tar'), p('abort-new.tar'), p('abort.rdimg'));
    const chunks: Uint8Array[] = [];
    const toConsumer = await diffImages(p('abort-old.tar'), p('abort-new.tar'), async (c) => {
      for await (const x of c) chunks.push(Uint8Array.from(x));
    });
    expect(Buffer.concat(chunks)).toEqual(readFileSync(p('abort.rdimg')));
    expect(toConsumer.deltaBytes).toBe(toFile.deltaBytes);
    const signal = AbortSignal.abort();
    await expect(diffImages(p('abort-old.tar'), p('abort-new.tar'), p('never.rdimg'), { signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(applyImageDelta(p('abort-old.tar'), p('abort.rdimg'), p('never.tar'), { signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(readdirSync(dir).filter((f) => f.includes('never'))).toEqual([]);
  });

  it('decompresses gzip old layers into scratchDir for the apply, and removes them after', async () => {
    writeFileSync(p('gz-old.tar'), dockerArchive([base, app('v1')], { gzip: true }));
    writeFileSync(p('gz-new.tar'), dockerArchive([base, app('v2')], { gzip: true }));
    await diffImages(p('gz-old.tar'), p('gz-new.tar'), p('gz.rdimg'));
    const scratchDir = p('scratch');
    mkdirSync(scratchDir);
    let during: string[] = [];
    await applyImageDelta(p('gz-old.tar'), p('gz.rdimg'), async (chunks) => {
      for await (const c of chunks) {
        void c;
        during = readdirSync(scratchDir);
      }
    }, { scratchDir });
    expect(during.filter((f) => f.startsWith('.rolldelta-layers-'))).toHaveLength(1);
    expect(readdirSync(scratchDir)).toEqual([]);
  });

  it('content that moved to another layer, or was squashed into one, costs almost nothing', async () => {
    const moved = await roundTrip(dockerArchive([base, app('v1')]), dockerArchive([app('v1'), base]), 'moved');
    const squashed = await roundTrip(dockerArchive([base, app('v1')]), dockerArchive([[...base, ...app('v1')]]), 'squashed');
    expect(moved.deltaBytes).toBeLessThan(1000);
    expect(squashed.deltaBytes).toBeLessThan(1000);
  });

  it('old and new images with gzip layers, or in OCI layouts', async () => {
    const s = await roundTrip(dockerArchive([base, app('v1')], { oci: true }), dockerArchive([base, app('v2')], { gzip: true }), 'mixed');
    expect(s.deltaBytes).toBeLessThan(1000);
    // An old image with gzip layers (as newer engines save them) is decompressed to scratch and
    // the scratch copy removed afterwards.
    const g = await roundTrip(dockerArchive([base, app('v1')], { oci: true, gzip: true }), dockerArchive([base, app('v2')]), 'oldgzip');
    expect(g.deltaBytes).toBeLessThan(1000);
    expect(readdirSync(dir).filter((f) => f.startsWith('.rolldelta-layers-'))).toEqual([]);
  });

  it('every truncation and many bit flips of a delta fail with a RolldeltaError and leave no output', async () => {
    const delta = readFileSync(p('edit.rdimg'));
    const cuts = [0, 3, 5, 9, 30, delta.length >> 1, delta.length - 1];
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...cuts).map((c) => ({ cut: c, flip: -1 })), fc.nat({ max: delta.length * 8 - 1 }).map((b) => ({ cut: -1, flip: b }))), async ({ cut, flip }) => {
        const bad = cut >= 0 ? delta.subarray(0, cut) : Buffer.from(delta);
        if (flip >= 0) bad[flip >> 3] ^= 1 << (flip & 7);
        writeFileSync(p('bad.rdimg'), bad);
        const r = await applyImageDelta(p('edit-old.tar'), p('bad.rdimg'), p('bad-out.tar')).then(
          () => 'ok',
          (e) => e,
        );
        // A flip in a field no check covers (msgpack padding, a tag) may still rebuild the exact image.
        if (r !== 'ok') expect(r).toBeInstanceOf(RolldeltaError);
        else expect(readFileSync(p('bad-out.tar')).equals(readFileSync(p('edit-out.tar')))).toBe(true);
        if (r !== 'ok') expect(existsSync(p('bad-out.tar'))).toBe(false);
        rmSync(p('bad-out.tar'), { force: true });
      }),
      { numRuns: 60 },
    );
  });
});

describe('rolldelta image', () => {
  it('diff prints the savings, apply rebuilds the archive; bad usage exits 2, a wrong old image 1', () => {
    ensureBuilt();
    writeFileSync(p('c-old.tar'), dockerArchive([base, app('v1')]));
    writeFileSync(p('c-new.tar'), dockerArchive([base, app('v2')]));
    const d = runCli(['image', 'diff', p('c-old.tar'), p('c-new.tar'), p('c.rdimg')]);
    expect(d.status).toBe(0);
    expect(d.stderr.toString()).toMatch(/image delta: .*a pull would move .*1 reused/);
    const quiet = runCli(['image', 'diff', '--no-pull-size', p('c-old.tar'), p('c-new.tar'), p('c-quiet.rdimg')]);
    expect(quiet.status).toBe(0);
    expect(quiet.stderr.toString()).toMatch(/^image delta: [^\n]*bytes\); 1 layer\(s\) rebuilt from the delta, 1 reused\n$/);
    expect(readFileSync(p('c-quiet.rdimg')).length).toBeLessThan(readFileSync(p('c.rdimg')).length);
    const a = runCli(['image', 'apply', p('c-old.tar'), p('c.rdimg'), p('c-out.tar')]);
    expect(a.status).toBe(0);
    expect(a.stderr.toString()).toContain('verified');
    expect(runCli(['image', 'apply', p('c-new.tar'), p('c.rdimg'), p('c-never.tar')]).status).toBe(1);
    expect(existsSync(p('c-never.tar'))).toBe(false);
    expect(runCli(['image', 'frob']).status).toBe(2);
    expect(runCli(['image', 'diff', p('c-old.tar')]).status).toBe(2);
  });
});
