// diffImages / applyImageDelta without an engine, on synthetic `docker save` archives: the delta
// given as a stream, layers left out (also ones rebuilt from the delta), progress, refusals.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { OpCollector } from '../../src/core/ops.js';
import { diff } from '../../src/format/operations.js';
import type { DeltaHeader } from '../../src/format/delta-header.js';
import type { ImageDeltaHeader } from '../../src/image/image-delta-format.js';
import { NativeDeltaDecoder } from '../../src/format/native-delta-decoder.js';
import { applyImageDelta } from '../../src/image/apply-image-delta.js';
import { ImageArchive } from '../../src/image/archive-reader.js';
import { ReadRing } from '../../src/image/read-ring.js';
import { diffImages } from '../../src/image/diff-images.js';
import { indexTarFile } from '../../src/image/tar-file-index.js';
import { makeTar, type TarEntry } from '../helpers/images.js';
import { noise } from '../helpers/noise.js';
import type { Progress } from '../../src/stream/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-imgapply-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);
const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const enc = new TextEncoder();

function text(seed: number, n = 3000): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`line ${i} of file ${seed}: ${((i + 1) * (seed + 7) * 2654435761) % 1000003}`);
  return out.join('\n');
}

/**
 * A legacy `docker save` archive of one image whose layers are the given file lists; `stored`
 * turns a layer tar into what the archive holds (gzip it, damage it), its DiffID staying the tar's.
 */
function dockerArchive(layers: TarEntry[][], tag: string | string[], stored: (tar: Uint8Array, i: number) => Uint8Array = (t) => t): { bytes: Uint8Array; diffIds: string[]; layerBytes: number } {
  const tars = layers.map((l) => makeTar(l));
  const diffIds = tars.map(sha);
  const config = enc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  const paths = diffIds.map((d) => `${d.slice(7)}/layer.tar`);
  const bytes = makeTar([
    ...tars.map((t, i): TarEntry => ({ type: 'file', path: paths[i], data: stored(t, i) })),
    { type: 'file', path: `${sha(config).slice(7)}.json`, data: config },
    { type: 'file', path: 'manifest.json', data: JSON.stringify([{ Config: `${sha(config).slice(7)}.json`, RepoTags: [tag].flat(), Layers: paths }]) },
  ]);
  return { bytes, diffIds, layerBytes: tars.reduce((n, t) => n + t.length, 0) };
}

/** DiffID -> whether the output archive carries that layer's layer.tar (checked against its hash). */
async function layersIn(path: string): Promise<Map<string, boolean>> {
  const bytes = readFileSync(path);
  const index = await indexTarFile({ length: bytes.length, read: (pos, n) => bytes.subarray(pos, pos + n) });
  const manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(index.get('manifest.json')!.dataOffset, index.get('manifest.json')!.dataOffset + index.get('manifest.json')!.size)));
  const config = JSON.parse(readEntry(bytes, index, manifest[0].Config));
  const out = new Map<string, boolean>();
  manifest[0].Layers.forEach((name: string, i: number) => {
    const e = index.get(name);
    if (e) expect(sha(bytes.subarray(e.dataOffset, e.dataOffset + e.size))).toBe(config.rootfs.diff_ids[i]);
    out.set(config.rootfs.diff_ids[i], e !== undefined);
  });
  return out;
}

function readEntry(bytes: Uint8Array, index: Map<string, { dataOffset: number; size: number }>, name: string): string {
  const e = index.get(name)!;
  return new TextDecoder().decode(bytes.subarray(e.dataOffset, e.dataOffset + e.size));
}

const base: TarEntry[] = [{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/tool', data: text(1) }];
const oldImage = dockerArchive([base, [{ type: 'file', path: 'app/main.js', data: text(3) }]], 'app:1');
const newImage = dockerArchive(
  [base, [{ type: 'file', path: 'app/main.js', data: `${text(3)}\nedit` }], [{ type: 'file', path: 'app/extra.js', data: `${text(3, 2000)}\nnew` }]],
  'app:2',
);
writeFileSync(p('old.tar'), oldImage.bytes);
writeFileSync(p('new.tar'), newImage.bytes);

async function* chunksOf(path: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = readFileSync(path);
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

describe('image delta apply options', () => {
  it('diffs with progress and a summary; applies from a stream, byte for byte like from the file', async () => {
    const seen: Progress[] = [];
    const s = await diffImages(p('old.tar'), p('new.tar'), p('d.rdimg'), { onProgress: (e) => seen.push(e), image: { old: 'app:1', new: 'app:2' }, measurePull: true });
    expect(s).toMatchObject({ newLayers: 2, reusedLayers: 1, sentLayers: 2 });
    expect(s.ratio).toBeCloseTo(s.pullBytes / s.deltaBytes);
    expect(s.deltaBytes * 5).toBeLessThan(s.pullBytes);
    const last = seen[seen.length - 1];
    expect(last.bytesIn).toBe(last.total);
    expect(last.bytesOut).toBe(s.deltaBytes);
    await applyImageDelta(p('old.tar'), p('d.rdimg'), p('out-file.tar'));
    await applyImageDelta(p('old.tar'), chunksOf(p('d.rdimg'), 7), p('out-stream.tar'));
    expect(readFileSync(p('out-stream.tar')).equals(readFileSync(p('out-file.tar')))).toBe(true);
    expect([...(await layersIn(p('out-file.tar'))).values()]).toEqual([true, true, true]);
    // The embedded delta names the basis by length only: the header's DiffIDs identify it.
    const embedded = await embeddedDeltaHeader(p('d.rdimg'));
    expect(embedded.basisSha256).toBeUndefined();
    expect(embedded.basisLength).toBe(oldImage.layerBytes);
    // Worker threads indexing the old image build the same delta (dist/worker.mjs, built by npm test).
    await diffImages(p('old.tar'), p('new.tar'), p('d2.rdimg'), { image: { old: 'app:1', new: 'app:2' }, workers: 2, measurePull: true });
    expect(readFileSync(p('d2.rdimg')).equals(readFileSync(p('d.rdimg')))).toBe(true);
  });

  it('reports what a pull would move (plain layers as gzip -6 makes them) when asked, else leaves it out', async () => {
    const image = { old: 'app:1', new: 'app:2' };
    const measured = await diffImages(p('old.tar'), p('new.tar'), p('m.rdimg'), { image, measurePull: true });
    const a = await ImageArchive.open(p('new.tar'));
    let gzipped = 0;
    try {
      for (const layer of a.images[0].layers.slice(1)) {
        const parts: Uint8Array[] = [];
        for await (const c of a.layerStream(layer)) parts.push(c);
        gzipped += gzipSync(Buffer.concat(parts), { level: 6 }).length;
      }
    } finally {
      await a.close();
    }
    expect(measured.pullBytes).toBe(gzipped);
    const mh = await imageDeltaHeader(p('m.rdimg'));
    expect(mh.header.pullBytes).toBe(gzipped);

    const unmeasured = await diffImages(p('old.tar'), p('new.tar'), p('u.rdimg'), { image });
    expect(unmeasured.pullBytes).toBeUndefined();
    expect(unmeasured.ratio).toBeUndefined();
    const uh = await imageDeltaHeader(p('u.rdimg'));
    expect(uh.header.pullBytes).toBeUndefined();
    // The rest of the delta is the same.
    const m = readFileSync(p('m.rdimg'));
    const u = readFileSync(p('u.rdimg'));
    expect(unmeasured.deltaBytes).toBe(u.length);
    expect(uh.deltaOffset).toBeLessThan(mh.deltaOffset);
    expect(m.subarray(mh.deltaOffset).equals(u.subarray(uh.deltaOffset))).toBe(true);
    await applyImageDelta(p('old.tar'), p('u.rdimg'), p('u-out.tar'));
    await applyImageDelta(p('old.tar'), p('m.rdimg'), p('m-out.tar'));
    expect(readFileSync(p('u-out.tar')).equals(readFileSync(p('m-out.tar')))).toBe(true);
  });

  it('gives the new image the tags it is told instead of those the delta lists', async () => {
    const tagged = dockerArchive([base, [{ type: 'file', path: 'app/main.js', data: `${text(3)}\nedit` }]], ['app:2', 'other:1']);
    writeFileSync(p('tagged-new.tar'), tagged.bytes);
    await diffImages(p('old.tar'), p('tagged-new.tar'), p('tagged.rdimg'), { level: 1 });
    const tagsOf = async (out: string) => {
      const a = await ImageArchive.open(p(out));
      await a.close();
      return a.images[0].repoTags;
    };
    await applyImageDelta(p('old.tar'), p('tagged.rdimg'), p('tagged-all.tar'));
    expect(await tagsOf('tagged-all.tar')).toEqual(['app:2', 'other:1']);
    await applyImageDelta(p('old.tar'), p('tagged.rdimg'), p('tagged-one.tar'), { repoTags: ['app:2'] });
    expect(await tagsOf('tagged-one.tar')).toEqual(['app:2']);
    await applyImageDelta(p('old.tar'), p('tagged.rdimg'), p('tagged-none.tar'), { repoTags: [] });
    expect(await tagsOf('tagged-none.tar')).toEqual([]);
  });

  it('announces each context-mixing frame before decoding it (the CLI turns V8\'s optimizing compiler on there)', async () => {
    // New prose the old image never had: context mixing codes it smaller than deflate does.
    const words = ['delta', 'image', 'layer', 'device', 'update', 'server', 'patch', 'basis', 'frame', 'the', 'of', 'and'];
    let seed = 11;
    const prose = Array.from({ length: 6000 }, () => words[((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % words.length]).join(' ');
    const neu = dockerArchive([base, [{ type: 'file', path: 'app/main.js', data: text(3) }], [{ type: 'file', path: 'doc/notes.txt', data: prose }]], 'app:3');
    writeFileSync(p('prose-new.tar'), neu.bytes);
    await diffImages(p('old.tar'), p('prose-new.tar'), p('prose.rdimg'), { level: 9 });
    const inDelta = await contextMixingFrames(p('prose.rdimg'));
    expect(inDelta).toBeGreaterThan(0);
    let announced = 0;
    await applyImageDelta(p('old.tar'), p('prose.rdimg'), p('prose-out.tar'), { beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && announced++) });
    expect(announced).toBe(inDelta);
    expect([...(await layersIn(p('prose-out.tar'))).values()]).toEqual([true, true, true]);
  });

  it('applies a level 9 delta of several context-mixed frames with worker threads unpacking them, byte for byte as without', async () => {
    const words = ['delta', 'image', 'layer', 'device', 'update', 'server', 'patch', 'basis', 'frame', 'the', 'of', 'and'];
    let seed = 5;
    const prose = Array.from({ length: 400_000 }, () => words[((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % words.length]).join(' ');
    const neu = dockerArchive([base, [{ type: 'file', path: 'doc/long.txt', data: prose }]], 'app:4');
    writeFileSync(p('long-new.tar'), neu.bytes);
    await diffImages(p('old.tar'), p('long-new.tar'), p('long.rdimg'), { level: 9, workers: 2 });
    expect(await contextMixingFrames(p('long.rdimg'))).toBeGreaterThanOrEqual(2);
    const one = await applyImageDelta(p('old.tar'), p('long.rdimg'), p('long-1.tar'));
    const two = await applyImageDelta(p('old.tar'), p('long.rdimg'), p('long-2.tar'), { workers: 2 });
    expect(two.imageId).toBe(one.imageId);
    expect(readFileSync(p('long-2.tar')).equals(readFileSync(p('long-1.tar')))).toBe(true);
  });

  it("leaves out listed layers, the old ones ('old') or a rebuilt one, and still writes the rest verified", async () => {
    const [b, edited, extra] = newImage.diffIds;
    await applyImageDelta(p('old.tar'), p('d.rdimg'), p('out-old.tar'), { omitLayers: 'old' });
    expect(Object.fromEntries(await layersIn(p('out-old.tar')))).toEqual({ [b]: false, [edited]: true, [extra]: true });
    await applyImageDelta(p('old.tar'), p('d.rdimg'), p('out-edited.tar'), { omitLayers: [edited] });
    expect(Object.fromEntries(await layersIn(p('out-edited.tar')))).toEqual({ [b]: true, [edited]: false, [extra]: true });
    await applyImageDelta(p('old.tar'), p('d.rdimg'), p('out-all.tar'), { omitLayers: [b, edited, extra] });
    expect(Object.fromEntries(await layersIn(p('out-all.tar')))).toEqual({ [b]: false, [edited]: false, [extra]: false });
  });

  it('a damaged delta fails even when every rebuilt layer is left out, and leaves no output', async () => {
    const bad = Buffer.from(readFileSync(p('d.rdimg')));
    bad[bad.length - 40] ^= 0x01;
    writeFileSync(p('bad.rdimg'), bad);
    const [, edited, extra] = newImage.diffIds;
    await expect(applyImageDelta(p('old.tar'), p('bad.rdimg'), p('never.tar'), { omitLayers: [edited, extra] })).rejects.toMatchObject({ name: 'RolldeltaError' });
    expect(existsSync(p('never.tar'))).toBe(false);
  });

  it('names the delta as the delta, and a file delta or a non-archive for what they are', async () => {
    const missing = p('nonexist.rdimg');
    await expect(applyImageDelta(p('old.tar'), missing, p('never.tar'))).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot open the image delta ${missing}: no such file or directory` });
    writeFileSync(p('file.rdelta'), diff(enc.encode('old bytes'), enc.encode('new bytes')));
    await expect(applyImageDelta(p('old.tar'), p('file.rdelta'), p('never.tar'))).rejects.toMatchObject({
      code: 'ERR_BAD_MAGIC',
      message: `${p('file.rdelta')}: expected an image delta (starting "rdim"), but this is a native delta file; apply a file delta with \`rolldelta patch\` (patchFile)`,
    });
    if (!existsSync(p('d.rdimg'))) await diffImages(p('old.tar'), p('new.tar'), p('d.rdimg'));
    writeFileSync(p('notatar.bin'), noise(4096, 5));
    await expect(applyImageDelta(p('notatar.bin'), p('d.rdimg'), p('never.tar'))).rejects.toMatchObject({ code: 'ERR_BAD_MAGIC', message: expect.stringContaining(`${p('notatar.bin')} is not an image archive`) });
    expect(existsSync(p('never.tar'))).toBe(false);
  });

  it('refuses the wrong old image from a stream before reading the delta body, and writes nothing', async () => {
    let pulled = 0;
    let closed = false;
    async function* counting(): AsyncGenerator<Uint8Array> {
      try {
        for await (const c of chunksOf(p('d.rdimg'), 64)) {
          pulled++;
          yield c;
        }
      } finally {
        closed = true;
      }
    }
    let consumed = false;
    await expect(
      applyImageDelta(p('new.tar'), counting(), async (chunks) => {
        consumed = true;
        for await (const _ of chunks);
      }),
    ).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
    expect(consumed).toBe(false);
    expect(closed).toBe(true); // the download is ended, not left hanging
    const headerChunks = Math.ceil((readFileSync(p('d.rdimg')).length - (await deltaBodyLength())) / 64) + 1;
    expect(pulled).toBeLessThanOrEqual(headerChunks);
  });
});

/** `bytes` with 8 bytes inside the one file content holding `marker` overwritten: the tar stays valid. */
function damaged(bytes: Uint8Array, marker: string): Uint8Array {
  const out = Buffer.from(bytes);
  const at = out.indexOf(marker);
  expect(at).toBeGreaterThan(0);
  expect(out.indexOf(marker, at + 1)).toBe(-1);
  out.write('XXXXXXXX', at + 4, 'latin1');
  return out;
}

describe('a damaged image archive gives no delta', () => {
  // Only the app layer ("file 3", line 2999) holds the marker: the new image's edited layer, the
  // old image's app layer. Each is still a valid tar of valid archive; only its DiffID tells.
  const marker = 'line 2999 of file 3';
  const [, edited] = newImage.diffIds;

  it('a new layer diffed into the delta that does not hash to its DiffID is ERR_CHECKSUM naming it, and no delta file', async () => {
    writeFileSync(p('new-damaged.tar'), damaged(newImage.bytes, marker));
    const a = await ImageArchive.open(p('new-damaged.tar')); // opens: the damage is inside a file's content
    expect(a.image().layers.map((l) => l.diffId)).toEqual(newImage.diffIds);
    await a.close();
    for (const workers of [1, 2]) {
      const err = await diffImages(p('old.tar'), p('new-damaged.tar'), p('never.rdimg'), { workers }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'RolldeltaError', code: 'ERR_CHECKSUM' });
      expect((err as Error).message).toMatch(new RegExp(`^${p('new-damaged.tar')}'s layer ${edited} [(][0-9a-f]{64}/layer[.]tar[)] does not match its DiffID: its bytes hash to sha256:[0-9a-f]{64}; the archive is damaged, save it again$`));
      expect(existsSync(p('never.rdimg'))).toBe(false);
    }
    // To a consumer, the stream fails before its end.
    let got = 0;
    await expect(diffImages(p('old.tar'), p('new-damaged.tar'), async (chunks) => { for await (const c of chunks) got += c.length; })).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
    expect(got).toBeGreaterThan(0);
  });

  it('a damaged old layer is ERR_CHECKSUM naming the old archive, plain or gzip, with or without workers; the unaltered pair still diffs', async () => {
    const oldApp = oldImage.diffIds[1];
    writeFileSync(p('old-damaged.tar'), damaged(oldImage.bytes, marker));
    // A gzip layer whose gzip is sound but whose tar is not the one its DiffID names.
    const gz = dockerArchive([base, [{ type: 'file', path: 'app/main.js', data: text(3) }]], 'app:1', (t, i) => gzipSync(i === 1 ? damaged(t, marker) : t));
    writeFileSync(p('old-damaged-gz.tar'), gz.bytes);
    for (const [name, workers] of [['old-damaged.tar', 1], ['old-damaged.tar', 2], ['old-damaged-gz.tar', 1], ['old-damaged-gz.tar', 2]] as const) {
      const err = await diffImages(p(name), p('new.tar'), p('never-old.rdimg'), { workers }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'RolldeltaError', code: 'ERR_CHECKSUM' });
      expect((err as Error).message).toMatch(new RegExp(`^${p(name)}'s layer ${oldApp} [(][0-9a-f]{64}/layer[.]tar[)] does not match its DiffID: its bytes hash to sha256:[0-9a-f]{64}; the archive is damaged, save it again$`));
      expect(existsSync(p('never-old.rdimg'))).toBe(false);
    }
    // The same layers undamaged, gzip ones too, diff and apply.
    writeFileSync(p('old-gz.tar'), dockerArchive([base, [{ type: 'file', path: 'app/main.js', data: text(3) }]], 'app:1', (t) => gzipSync(t)).bytes);
    for (const old of ['old.tar', 'old-gz.tar']) {
      await diffImages(p(old), p('new.tar'), p('sound.rdimg'));
      await applyImageDelta(p(old), p('sound.rdimg'), p('sound-out.tar'));
      expect([...(await layersIn(p('sound-out.tar'))).values()]).toEqual([true, true, true]);
    }
  });
});

/** The header of the native delta inside an image delta file. */
async function embeddedDeltaHeader(path: string): Promise<DeltaHeader> {
  const { readImageDeltaHeader } = await import('../../src/image/image-delta-format.js');
  const bytes = readFileSync(path);
  const { deltaOffset } = await readImageDeltaHeader(async (pos, n) => bytes.subarray(pos, pos + n), bytes.length);
  let header: DeltaHeader | undefined;
  new NativeDeltaDecoder(new OpCollector(), { onheader: (h) => (header = h) }).push(bytes.subarray(deltaOffset), true);
  return header!;
}

/** Frames of an image delta's embedded native delta that its decoder announces as context-mixing. */
async function contextMixingFrames(path: string): Promise<number> {
  const { readImageDeltaHeader } = await import('../../src/image/image-delta-format.js');
  const bytes = readFileSync(path);
  const { deltaOffset } = await readImageDeltaHeader(async (pos, n) => bytes.subarray(pos, pos + n), bytes.length);
  let n = 0;
  new NativeDeltaDecoder(new OpCollector(), { beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && n++) }).push(bytes.subarray(deltaOffset), true);
  return n;
}

/** Bytes of the embedded native delta, to know how much of the file is header. */
async function deltaBodyLength(): Promise<number> {
  const { readImageDeltaHeader } = await import('../../src/image/image-delta-format.js');
  const bytes = readFileSync(p('d.rdimg'));
  const { deltaOffset } = await readImageDeltaHeader(async (pos, n) => bytes.subarray(pos, pos + n), bytes.length);
  return bytes.length - deltaOffset;
}

const bufferIds = new WeakMap<ArrayBufferLike, number>();
let nextBufferId = 0;
/** Names the memory a chunk occupies: its buffer and where in it (a ReadRing's buffers share one block). */
function memoryOf(c: Uint8Array): string {
  if (!bufferIds.has(c.buffer)) bufferIds.set(c.buffer, nextBufferId++);
  return `${bufferIds.get(c.buffer)}@${c.byteOffset}`;
}

/**
 * Applies `${name}.rdimg` to `${name}-old.tar` into a consumer that takes reused chunks (and copies
 * them): the distinct buffers its 1 MiB chunks came in, and whether it got `${name}-out.tar`'s bytes.
 */
async function reusedBuffers(name: string): Promise<{ buffers: number; same: boolean }> {
  const buffers = new Set<string>();
  const copied: Uint8Array[] = [];
  await applyImageDelta(p(`${name}-old.tar`), p(`${name}.rdimg`), async (chunks) => {
    for await (const ch of chunks) {
      if (ch.length === 1 << 20) buffers.add(memoryOf(ch));
      copied.push(ch.slice());
    }
  }, { reuseChunks: true });
  return { buffers: buffers.size, same: Buffer.concat(copied).equals(readFileSync(p(`${name}-out.tar`))) };
}

describe('image apply into a file through reused buffers', () => {
  // Layers of several MiB, so the reused read and output buffers wrap around many times, and
  // layer boundaries fall inside output chunks; every layer is re-hashed from the written file.
  it('writes every byte of multi-MiB layers, old and rebuilt, as a consumer that keeps chunks gets them', async () => {
    const a = noise((5 << 20) + 12345, 1);
    const b = noise((3 << 20) + 777, 2);
    const edited = b.slice();
    for (let i = 0; i < edited.length; i += 300_001) edited[i] ^= 0xff;
    const c = noise((4 << 20) + 4321, 3);
    const old = dockerArchive([[{ type: 'file', path: 'a', data: a }], [{ type: 'file', path: 'b', data: b }]], 'big:1');
    const neu = dockerArchive([[{ type: 'file', path: 'a', data: a }], [{ type: 'file', path: 'b', data: edited }], [{ type: 'file', path: 'c', data: c }]], 'big:2');
    writeFileSync(p('big-old.tar'), old.bytes);
    writeFileSync(p('big-new.tar'), neu.bytes);
    await diffImages(p('big-old.tar'), p('big-new.tar'), p('big.rdimg'), { level: 1 });
    const seen: Progress[] = [];
    let cmFrames = 0;
    await applyImageDelta(p('big-old.tar'), p('big.rdimg'), p('big-out.tar'), { onProgress: (e) => seen.push(e), beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && cmFrames++) });
    expect(cmFrames).toBe(0); // level 1: deflate only
    expect(Object.fromEntries(await layersIn(p('big-out.tar')))).toEqual(Object.fromEntries(neu.diffIds.map((d) => [d, true])));
    // About one report per MiB of the archive written, and one at its end.
    const written = readFileSync(p('big-out.tar')).length;
    expect(seen.length).toBeGreaterThanOrEqual(Math.floor(written / (2 << 20)));
    expect(seen.slice(0, -1).every((e, i) => i === 0 || e.bytesOut - seen[i - 1].bytesOut >= 1 << 20)).toBe(true);
    expect(seen[seen.length - 1].bytesOut).toBe(written);
    const kept: Uint8Array[] = [];
    await applyImageDelta(p('big-old.tar'), p('big.rdimg'), async (chunks) => {
      for await (const ch of chunks) kept.push(ch);
    });
    expect(Buffer.concat(kept).equals(readFileSync(p('big-out.tar')))).toBe(true);
    // A consumer that lets go of each chunk before the next (it copies them) takes reused buffers
    // too, here with the old layers left out, as the device flow loads them.
    const copied: Uint8Array[] = [];
    const consume = async (chunks: AsyncIterable<Uint8Array>) => {
      for await (const ch of chunks) copied.push(ch.slice());
    };
    await applyImageDelta(p('big-old.tar'), p('big.rdimg'), consume, { reuseChunks: true, omitLayers: 'old' });
    await applyImageDelta(p('big-old.tar'), p('big.rdimg'), p('big-out-new.tar'), { omitLayers: 'old' });
    expect(Buffer.concat(copied).equals(readFileSync(p('big-out-new.tar')))).toBe(true);
    expect([...(await layersIn(p('big-out-new.tar'))).values()]).toEqual([false, true, true]);
  });
  it('old layers of any size between rebuilt ones arrive whole in a file and in a consumer', async () => {
    // Small layers (one read each) between multi-read ones and rebuilt ones. Old layers share one
    // ring of read buffers; the file writer gathers small chunks into 1 MiB writes, so a layer's
    // short last chunk must not come from the ring, which later layers refill while it still waits
    // in that batch (giving it a ring buffer corrupts the output: this test catches it).
    const sizes = [700_000, 3000, (2 << 20) + 99, 10, 600_000, (1 << 20) + 1, 5];
    const oldLayers = sizes.map((n, i) => [{ type: 'file' as const, path: `l${i}`, data: noise(n, 10 + i) }]);
    const rebuilt = (i: number) => [{ type: 'file' as const, path: `new${i}`, data: noise(300_000 + i, 40 + i) }];
    const newLayers = [oldLayers[0], oldLayers[1], rebuilt(0), oldLayers[2], oldLayers[3], oldLayers[4], rebuilt(1), oldLayers[5], oldLayers[6]];
    const old = dockerArchive(oldLayers, 'many:1');
    const neu = dockerArchive(newLayers, 'many:2');
    writeFileSync(p('many-old.tar'), old.bytes);
    writeFileSync(p('many-new.tar'), neu.bytes);
    await diffImages(p('many-old.tar'), p('many-new.tar'), p('many.rdimg'), { level: 1 });
    await applyImageDelta(p('many-old.tar'), p('many.rdimg'), p('many-out.tar'));
    expect(Object.fromEntries(await layersIn(p('many-out.tar')))).toEqual(Object.fromEntries(neu.diffIds.map((d) => [d, true])));
    const copied: Uint8Array[] = [];
    await applyImageDelta(p('many-old.tar'), p('many.rdimg'), async (chunks) => {
      for await (const ch of chunks) copied.push(ch.slice());
    }, { reuseChunks: true });
    expect(Buffer.concat(copied).equals(readFileSync(p('many-out.tar')))).toBe(true);
  });

  it('with the old layers before the rebuilt ones, the patch takes its chunks from their ring: four 1 MiB buffers in all', async () => {
    // big:2 is [a (old, 5 MiB), b edited, c new]: the patch writes 7 MiB after 5 MiB of old reads.
    expect(await reusedBuffers('big')).toEqual({ buffers: 4, same: true });
    // A ring given to it (as after a docker save through that ring): its memory, nothing else.
    const ring = new ReadRing(ImageArchive.READ_BYTES);
    const copied: Uint8Array[] = [];
    await applyImageDelta(p('big-old.tar'), p('big.rdimg'), async (chunks) => {
      for await (const ch of chunks) {
        if (ch.length === 1 << 20) expect(ch.buffer).toBe(ring.block().buffer);
        copied.push(ch.slice());
      }
    }, { reuseChunks: true, ring });
    expect(Buffer.concat(copied).equals(readFileSync(p('big-out.tar')))).toBe(true);
    const wrong = applyImageDelta(p('big-old.tar'), p('big.rdimg'), p('never.tar'), { ring: new ReadRing(4096) });
    await expect(wrong).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(existsSync(p('never.tar'))).toBe(false);
  });

  it('with an old layer between rebuilt ones, the patch keeps chunks of its own and every layer arrives whole', async () => {
    // The patch reads ahead into the second rebuilt layer while the old one goes out: sharing the
    // old layers' ring then would refill chunks it still holds (this test fails if it does).
    const o = noise((3 << 20) + 5, 21);
    const r = noise((3 << 20) + 9, 22);
    const edit = (b: Uint8Array) => b.map((x, i) => (i % 200_003 === 0 ? x ^ 1 : x));
    const old = dockerArchive([[{ type: 'file', path: 'r', data: r }], [{ type: 'file', path: 'o', data: o }]], 'mid:1');
    const neu = dockerArchive([[{ type: 'file', path: 'r', data: edit(r) }], [{ type: 'file', path: 'o', data: o }], [{ type: 'file', path: 'r2', data: edit(edit(r)).reverse() }]], 'mid:2');
    writeFileSync(p('mid-old.tar'), old.bytes);
    writeFileSync(p('mid-new.tar'), neu.bytes);
    await diffImages(p('mid-old.tar'), p('mid-new.tar'), p('mid.rdimg'), { level: 1 });
    await applyImageDelta(p('mid-old.tar'), p('mid.rdimg'), p('mid-out.tar'));
    expect(Object.fromEntries(await layersIn(p('mid-out.tar')))).toEqual(Object.fromEntries(neu.diffIds.map((d) => [d, true])));
    const { buffers, same } = await reusedBuffers('mid');
    expect(same).toBe(true);
    expect(buffers).toBeGreaterThan(4);
  });

  it('a read ring shared by layers hands out four buffers for full reads and fresh ones for short ends', async () => {
    const archive = await ImageArchive.open(p('many-old.tar'));
    try {
      const image = archive.image();
      const ring = new ReadRing(ImageArchive.READ_BYTES);
      const ringBuffers = new Set<string>();
      for (const layer of [...image.layers, ...image.layers]) {
        const h = createHash('sha256');
        for await (const c of archive.layerStream(layer, ring)) {
          h.update(c);
          if (c.length === ImageArchive.READ_BYTES) ringBuffers.add(memoryOf(c));
          else expect(c.buffer).not.toBe(ring.block().buffer);
        }
        expect(`sha256:${h.digest('hex')}`).toBe(layer.diffId);
      }
      expect(ringBuffers.size).toBe(4); // the big layers' 3 full reads, twice: round the ring of four
      expect(() => archive.layerStream(image.layers[0], new ReadRing(4096))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    } finally {
      await archive.close();
    }
  });
});

/** An image delta file's own header, and where the native delta after it starts. */
async function imageDeltaHeader(path: string): Promise<{ header: ImageDeltaHeader; deltaOffset: number }> {
  const { readImageDeltaHeader } = await import('../../src/image/image-delta-format.js');
  const bytes = readFileSync(path);
  return readImageDeltaHeader(async (pos, n) => bytes.subarray(pos, pos + n), bytes.length);
}
