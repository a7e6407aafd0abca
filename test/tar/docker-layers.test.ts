import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarEntry } from '../../src/tar/entry.js';
import { TarReader } from '../../src/tar/reader.js';
import { TarWriter } from '../../src/tar/writer.js';
import { dockerdAvailable, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildApp, importBusybox } from '../helpers/images.js';

// Real layers written by Go's archive/tar (docker save): rebuilding each one from the reader's raw
// blocks must give its DiffID, while the outer save archive streams through a reader of its own.
const peer = requirePeer('dockerd', dockerdAvailable());

interface Rebuilt {
  sha: string;
  entries: TarEntry[];
}

/** Streams `docker save` through an outer reader; every candidate layer goes through an inner reader -> writer. */
async function readSave(chunks: AsyncIterable<Uint8Array>) {
  const outerIn = createHash('sha256');
  const outerOut = createHash('sha256');
  const outerWriter = new TarWriter((c) => outerOut.update(c));
  const layers = new Map<string, Rebuilt>();
  const small = new Map<string, Uint8Array[]>();
  let inner: { reader: TarReader; out: ReturnType<typeof createHash>; entries: TarEntry[]; failed: boolean } | undefined;
  const outer = new TarReader({
    onentry(e) {
      outerWriter.beginEntry(e.headerBlocks, e.size);
      if (e.size < 1 << 20) small.set(e.name, []);
      if (e.type !== 'file' || e.size === 0) return;
      const out = createHash('sha256');
      const w = new TarWriter((c) => out.update(c));
      const entries: TarEntry[] = [];
      const reader = new TarReader({
        onentry: (x) => {
          entries.push(x);
          w.beginEntry(x.headerBlocks, x.size);
        },
        ondata: (x, c, final) => {
          w.write(c);
          if (final) w.endEntry(x.paddingBytes);
        },
        onglobal: (blocks) => w.writeRaw(blocks),
        onend: (t) => w.finish(t),
      });
      inner = { reader, out, entries, failed: false };
    },
    ondata(e, c, final) {
      outerWriter.write(c);
      small.get(e.name)?.push(c.slice());
      if (inner && !inner.failed) {
        try {
          inner.reader.push(c, final);
        } catch {
          inner.failed = true; // JSON configs and manifests are not tars
        }
      }
      if (final) {
        outerWriter.endEntry(e.paddingBytes);
        if (inner && !inner.failed) layers.set(e.name, { sha: inner.out.digest('hex'), entries: inner.entries });
        inner = undefined;
      }
    },
    onend: (t) => outerWriter.finish(t),
  });
  let last: Uint8Array | undefined;
  for await (const c of chunks) {
    if (last) outer.push(last);
    outerIn.update(c);
    last = new Uint8Array(c);
  }
  outer.push(last ?? new Uint8Array(0), true);
  const text = (name: string) => Buffer.concat(small.get(name) ?? []).toString('utf8');
  return { layers, text, outerSame: outerIn.digest('hex') === outerOut.digest('hex') };
}

describe.skipIf(peer.skip)(`docker save layers rebuild to their DiffIDs ${peer.message}`, () => {
  let d: Dockerd;
  beforeAll(async () => {
    d = await startDockerd();
    await importBusybox(d.engine, 'rdtar-base:1');
    const long = 'l'.repeat(140) + '.txt';
    await buildApp(d.engine, 'rdtar-base:1', 'rdtar-app:1', { 'a.txt': 'hello\n', 'old.txt': 'bye\n', b512: 'x'.repeat(512) },
      `COPY . /app/\nRUN rm /app/old.txt && ln -s /bin/busybox /app/sh && echo h > /app/h1 && ln /app/h1 /app/h2 && mkfifo /app/fifo && echo long > /app/${long}`);
  }, 120_000);
  afterAll(async () => {
    await d?.stop();
  }, 60_000);

  it('every layer and the outer archive round-trip byte for byte', async () => {
    const { layers, text, outerSame } = await readSave(await d.engine.saveImages(['rdtar-app:1']));
    expect(outerSame).toBe(true);
    const manifest = JSON.parse(text('manifest.json')) as Array<{ Config: string; Layers: string[] }>;
    const config = JSON.parse(text(manifest[0].Config)) as { rootfs: { diff_ids: string[] } };
    expect(manifest[0].Layers.length).toBe(3);
    manifest[0].Layers.forEach((path, i) => {
      expect(layers.get(path)?.sha, path).toBe(config.rootfs.diff_ids[i].replace('sha256:', ''));
    });
    const top = layers.get(manifest[0].Layers[2])!.entries;
    expect(top.some((e) => e.isWhiteout && e.name === 'app/.wh.old.txt')).toBe(true);
    expect(top.find((e) => e.name === 'app/sh')).toMatchObject({ type: 'symlink', linkname: '/bin/busybox' });
    expect(top.find((e) => e.type === 'hardlink')).toMatchObject({ name: 'app/h2', linkname: 'app/h1' });
    expect(top.find((e) => e.name === 'app/fifo')?.type).toBe('fifo');
    expect(top.some((e) => e.name.endsWith('l'.repeat(140) + '.txt') && e.headerBlocks.length > 512)).toBe(true);
  });
});
