// A synthetic image pair for the throughput bench, made without Docker: two `docker save`
// archives (legacy layout: <id>/layer.tar, <config>.json, manifest.json) of about `mib` MiB each.
// Four layers of many files (256 B-256 KiB, mixed content); the new image changes only the last
// layer (the "app"): every file's mtime is new, 1 file in 20 has a small edit, one file is added.
// Layer tars and archives are written through the library's TarWriter and encodeHeader, in pieces.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TarWriter, encodeHeader } from '../dist/index.js';
import { fillBlock, next, seedOf } from './_content.mjs';

const MiB = 1 << 20;
const VERSION = 'image-pair v2';
const SHARES = [0.45, 0.3, 0.15, 0.1]; // of the image's bytes, per layer; the last is the app

/**
 * Makes (or reuses) `old.tar` and `new.tar` in `dir`.
 * @returns {{ old: string, new: string, oldBytes: number, newBytes: number, files: number, editedFiles: number }}
 */
export function imagePair(dir, mib) {
  mkdirSync(dir, { recursive: true });
  const paths = { old: join(dir, 'old.tar'), new: join(dir, 'new.tar') };
  const stamp = join(dir, 'stamp.json');
  if (existsSync(stamp)) {
    const info = JSON.parse(readFileSync(stamp, 'utf8'));
    if (info.version === VERSION && info.mib === mib && existsSync(paths.old) && existsSync(paths.new)) return { ...paths, ...info };
  }
  const layers = SHARES.map((share, i) => plan(i, Math.round(mib * MiB * share)));
  const tmp = join(dir, 'layers');
  mkdirSync(tmp, { recursive: true });
  const oldLayers = layers.map((files, i) => writeLayer(join(tmp, `old-${i}.tar`), i, files, false));
  const newLayers = [...oldLayers.slice(0, -1), writeLayer(join(tmp, 'new-3.tar'), 3, layers[3], true)];
  const oldBytes = writeArchive(paths.old, oldLayers, 'bench:old');
  const newBytes = writeArchive(paths.new, newLayers, 'bench:new');
  rmSync(tmp, { recursive: true, force: true });
  const files = layers.reduce((n, l) => n + l.length, 0);
  const info = { version: VERSION, mib, oldBytes, newBytes, files, editedFiles: Math.ceil((layers[3].length - 7) / 20) };
  writeFileSync(stamp, JSON.stringify(info));
  return { ...paths, ...info };
}

/** File sizes of one layer, log-uniform 256 B-256 KiB, until the layer's share is filled. */
function plan(layer, bytes) {
  const sizes = [];
  let s = seedOf(0x1a7e5, layer);
  for (let total = 0; total < bytes; ) {
    s = next(s);
    const size = Math.min(Math.round(256 * 2 ** ((s % 10_000) / 1000)), bytes - total);
    sizes.push(size);
    total += size;
  }
  return sizes;
}

/** Writes one layer tar: a directory per 64 files; returns its path, size and diff ID. */
function writeLayer(path, layer, sizes, edited) {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  const w = new TarWriter((chunk) => {
    writeSync(fd, chunk);
    hash.update(chunk);
    bytes += chunk.length;
  });
  const mtime = edited ? 1_750_000_000 : 1_700_000_000;
  const buf = Buffer.allocUnsafe(MiB);
  const dirOf = (j) => `opt/layer${layer}/d${Math.floor(j / 64)}`;
  const file = (name, size, fill) => {
    w.beginEntry(encodeHeader({ name, type: 'file', size, mtime, mode: 0o644 }), size);
    const data = buf.subarray(0, size);
    fill(data);
    w.write(data);
    w.endEntry();
  };
  const dir = (name) => {
    w.beginEntry(encodeHeader({ name: `${name}/`, type: 'directory', size: 0, mtime, mode: 0o755 }), 0);
    w.endEntry();
  };
  dir(`opt/layer${layer}`);
  sizes.forEach((size, j) => {
    if (j % 64 === 0) dir(dirOf(j));
    file(`${dirOf(j)}/f${j}.dat`, size, (data) => {
      fillBlock(data, seedOf(0xf11e, layer, j));
      if (edited && j % 20 === 7) data.fill(0x2a, size >>> 1, Math.min(size, (size >>> 1) + 16)); // a small edit
    });
  });
  if (edited) file(`opt/layer${layer}/added.txt`, 4000, (data) => fillBlock(data, seedOf(0xadd)));
  w.finish();
  closeSync(fd);
  return { path, bytes, diffId: `sha256:${hash.digest('hex')}` };
}

/** Writes a legacy `docker save` archive of the layers; returns its size. */
function writeArchive(path, layers, tag) {
  const fd = openSync(path, 'w');
  let bytes = 0;
  const w = new TarWriter((chunk) => {
    writeSync(fd, chunk);
    bytes += chunk.length;
  });
  const mtime = 1_700_000_000;
  const put = (name, data) => {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    w.beginEntry(encodeHeader({ name, type: 'file', size: b.length, mtime }), b.length);
    w.write(b);
    w.endEntry();
  };
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const configHex = createHash('sha256').update(config).digest('hex');
  const buf = Buffer.allocUnsafe(MiB);
  const paths = layers.map((l, i) => {
    const id = createHash('sha256').update(layers.slice(0, i + 1).map((x) => x.diffId).join(' ')).digest('hex'); // chain ID
    w.beginEntry(encodeHeader({ name: `${id}/`, type: 'directory', size: 0, mtime, mode: 0o755 }), 0);
    w.endEntry();
    put(`${id}/VERSION`, '1.0');
    put(`${id}/json`, JSON.stringify({ id }));
    w.beginEntry(encodeHeader({ name: `${id}/layer.tar`, type: 'file', size: l.bytes, mtime }), l.bytes);
    const src = openSync(l.path, 'r');
    for (let off = 0; off < l.bytes; ) {
      const n = readSync(src, buf, 0, Math.min(MiB, l.bytes - off), off);
      w.write(buf.subarray(0, n));
      off += n;
    }
    closeSync(src);
    w.endEntry();
    return `${id}/layer.tar`;
  });
  put(`${configHex}.json`, config);
  put('manifest.json', JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: paths }]));
  w.finish();
  closeSync(fd);
  return bytes;
}
