// Builders of image archives in every form rolldelta reads, from layer tars and a config, with a
// tar writer of their own (independent of src/tar) so that they are a trustworthy reference.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const enc = new TextEncoder();
export const sha = (b: Uint8Array | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (b: Uint8Array): string => sha(b).slice(7);

/** An entry of a fixture tar; names may be up to 255 bytes (ustar prefix). */
export type FixtureEntry =
  | { type: 'file'; name: string; data: Uint8Array | string }
  | { type: 'dir'; name: string }
  | { type: 'symlink' | 'hardlink'; name: string; target: string };

/**
 * A ustar archive of `entries` (mtime fixed, so equal input gives equal bytes).
 * @example
 * tarBytes([{ type: 'file', name: 'a', data: 'x' }]);
 */
export function tarBytes(entries: FixtureEntry[], opts: { dotSlash?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? (typeof e.data === 'string' ? enc.encode(e.data) : e.data) : new Uint8Array(0);
    const h = new Uint8Array(512);
    const put = (off: number, len: number, s: string) => {
      const b = enc.encode(s);
      if (b.length > len) throw new Error(`fixture tar field too long: ${s}`);
      h.set(b, off);
    };
    const octal = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
    let name = (opts.dotSlash ? './' : '') + e.name + (e.type === 'dir' ? '/' : '');
    if (enc.encode(name).length > 100) {
      const cut = name.lastIndexOf('/', 155);
      put(345, 155, name.slice(0, cut));
      name = name.slice(cut + 1);
    }
    put(0, 100, name);
    octal(100, 8, e.type === 'dir' ? 0o755 : 0o644);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, data.length);
    octal(136, 12, 1_700_000_000);
    h.fill(0x20, 148, 156);
    put(156, 1, { file: '0', dir: '5', symlink: '2', hardlink: '1' }[e.type]);
    if (e.type === 'symlink' || e.type === 'hardlink') put(157, 100, e.target);
    put(257, 8, 'ustar\x0000');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i];
    put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    parts.push(h);
    if (data.length > 0) {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      parts.push(padded);
    }
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * `n` lines of text that differ with `seed`: layer contents that compress like real files.
 * @example
 * tarBytes([{ type: 'file', name: 'bin/tool', data: fixtureText(1, 4000) }]);
 */
export function fixtureText(seed: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `line ${i} of ${seed}: ${((i + 1) * (seed + 7) * 2654435761) % 1000003}\n`;
  return s;
}

/** An image as stored: its config, its layer blobs (maybe compressed) and their uncompressed tars. */
export interface FixtureImage {
  config: Uint8Array;
  id: string;
  diffIds: string[];
  blobs: Uint8Array[];
  repoTags: string[];
}

/**
 * An image from layer tars; `compress` stores the blobs gzip or zstd (via the zstd program).
 * @example
 * const img = fixtureImage([tarBytes([...])], { repoTags: ['app:1'] });
 */
export function fixtureImage(layerTars: Uint8Array[], opts: { repoTags?: string[]; compress?: 'gzip' | 'zstd'; config?: Uint8Array } = {}): FixtureImage {
  const diffIds = layerTars.map((t) => sha(t));
  const config = opts.config ?? enc.encode(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const blobs = layerTars.map((t) => (opts.compress === 'gzip' ? new Uint8Array(gzipSync(t)) : opts.compress === 'zstd' ? new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: t })) : t));
  return { config, id: sha(config), diffIds, blobs, repoTags: opts.repoTags ?? ['app:1'] };
}

/** Docker < 25 `docker save`: `<id>/layer.tar`, `<hex>.json`; a layer seen before is a `link` to its first copy. */
export function dockerLegacyTar(images: FixtureImage[], opts: { link?: 'symlink' | 'hardlink' } = {}): Uint8Array {
  const entries: FixtureEntry[] = [];
  const seen = new Map<string, string>();
  const manifest = images.map((img) => {
    const layers = img.blobs.map((b, i) => {
      const dir = sha(`${img.id} ${i}`).slice(7); // per image and position, as v1 IDs are
      const path = `${dir}/layer.tar`;
      entries.push({ type: 'dir', name: dir }, { type: 'file', name: `${dir}/VERSION`, data: '1.0' }, { type: 'file', name: `${dir}/json`, data: JSON.stringify({ id: dir }) });
      const first = seen.get(hex(b));
      if (first && opts.link === 'symlink') entries.push({ type: 'symlink', name: path, target: `../${first}` });
      else if (first && opts.link === 'hardlink') entries.push({ type: 'hardlink', name: path, target: first });
      else {
        entries.push({ type: 'file', name: path, data: b });
        seen.set(hex(b), path);
      }
      return path;
    });
    entries.push({ type: 'file', name: `${img.id.slice(7)}.json`, data: img.config });
    return { Config: `${img.id.slice(7)}.json`, RepoTags: img.repoTags, Layers: layers };
  });
  entries.push({ type: 'file', name: 'manifest.json', data: JSON.stringify(manifest) });
  return tarBytes(entries);
}

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function layoutEntries(images: FixtureImage[], mediaType: string, nested: boolean): { entries: FixtureEntry[]; index: unknown } {
  const blobs = new Map<string, Uint8Array>();
  const add = (b: Uint8Array) => {
    blobs.set(hex(b), b);
    return { digest: sha(b), size: b.length };
  };
  const descriptors = images.map((img) => {
    const manifest = enc.encode(JSON.stringify({ schemaVersion: 2, mediaType, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...add(img.config) }, layers: img.blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...add(b) })) }));
    let top = { mediaType, ...add(manifest), platform: { os: 'linux', architecture: 'amd64' } };
    if (nested) {
      // a multi-platform index: an arm64 decoy (pointing at the same manifest) first, then amd64
      const idx = enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...top, platform: { os: 'linux', architecture: 'arm64' } }, top] }));
      top = { mediaType: OCI_INDEX, ...add(idx), platform: undefined as never };
    }
    const tag = img.repoTags[0];
    return { ...top, annotations: tag ? { 'io.containerd.image.name': `docker.io/library/${tag}`, 'org.opencontainers.image.ref.name': tag.split(':')[1] } : undefined };
  });
  const entries: FixtureEntry[] = [
    { type: 'dir', name: 'blobs' },
    { type: 'dir', name: 'blobs/sha256' },
    ...[...blobs].map(([h, b]): FixtureEntry => ({ type: 'file', name: `blobs/sha256/${h}`, data: b })),
    { type: 'file', name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
  ];
  return { entries, index: { schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors } };
}

/** Docker >= 25 `docker save`: an OCI layout plus a manifest.json naming `blobs/sha256/<hex>`. */
export function dockerOciTar(images: FixtureImage[]): Uint8Array {
  const { entries, index } = layoutEntries(images, DOCKER_MANIFEST, false);
  const manifest = images.map((img) => ({ Config: `blobs/sha256/${img.id.slice(7)}`, RepoTags: img.repoTags, Layers: img.blobs.map((b) => `blobs/sha256/${hex(b)}`) }));
  entries.push({ type: 'file', name: 'index.json', data: JSON.stringify(index) }, { type: 'file', name: 'manifest.json', data: JSON.stringify(manifest) });
  return tarBytes(entries);
}

/** An OCI image layout archive (no manifest.json), optionally behind a multi-platform index, names maybe `./`-prefixed. */
export function ociLayoutTar(images: FixtureImage[], opts: { nested?: boolean; dotSlash?: boolean } = {}): Uint8Array {
  const { entries, index } = layoutEntries(images, OCI_MANIFEST, opts.nested === true);
  entries.push({ type: 'file', name: 'index.json', data: JSON.stringify(index) });
  return tarBytes(entries, { dotSlash: opts.dotSlash });
}

/** skopeo's docker-archive: layers as `<hex>.tar`, `<id>/layer.tar` symlinks for old readers. */
export function skopeoDockerTar(images: FixtureImage[]): Uint8Array {
  const entries: FixtureEntry[] = [];
  const manifest = images.map((img) => {
    const layers = img.blobs.map((b) => {
      entries.push({ type: 'file', name: `${hex(b)}.tar`, data: b });
      const dir = sha(`${hex(b)}-v1`).slice(7);
      entries.push({ type: 'symlink', name: `${dir}/layer.tar`, target: `../${hex(b)}.tar` });
      return `${hex(b)}.tar`;
    });
    entries.push({ type: 'file', name: `${img.id.slice(7)}.json`, data: img.config });
    return { Config: `${img.id.slice(7)}.json`, RepoTags: img.repoTags.map((t) => `docker.io/library/${t}`), Layers: layers };
  });
  entries.push({ type: 'file', name: 'manifest.json', data: JSON.stringify(manifest) });
  return tarBytes(entries);
}

/**
 * Turns an `oci:` directory written by skopeo into a Docker >= 25 style archive: adds the
 * manifest.json Docker 25 writes (Config and Layers as `blobs/sha256/<hex>`) and tars the folder.
 * @example
 * execFileSync('skopeo', ['copy', 'docker-archive:a.tar', 'oci:dir:app:1']); dockerOciFromOciDir('dir', 'b.tar', ['app:1']);
 */
export function dockerOciFromOciDir(dir: string, outTar: string, repoTags: string[]): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const blob = (d: string) => join(dir, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  const items = [{ Config: `blobs/sha256/${manifest.config.digest.slice(7)}`, RepoTags: repoTags, Layers: manifest.layers.map((l: { digest: string }) => `blobs/sha256/${l.digest.slice(7)}`) }];
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(items));
  const names = walk(dir).map((f) => relative(dir, f));
  execFileSync('tar', ['-C', dir, '-cf', outTar, ...names]);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}
