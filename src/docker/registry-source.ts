import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, isRolldeltaError, RolldeltaError } from '../core/errors.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { ChunkBuffer } from '../stream/chunks.js';
import { encodeHeader } from '../tar/encode-header.js';
import { TarWriter } from '../tar/writer.js';
import { ArchiveCache, CACHED_ARCHIVE, keepArchivesOf } from './_archive-cache.js';
import { ArchivesByImageId, isImageIdRef } from './_archives-by-image-id.js';
import type { ArchiveCacheOptions, DeltaSource } from './delta-server.js';
import type { ImageManifest, RegistryClient } from './registry.js';

const enc = new TextEncoder();
/** Manifest digests whose image IDs a source remembers (~150 bytes each), the oldest forgotten first. */
const MAX_KNOWN_DIGESTS = 4096;
/** Manifests kept whole for archive() after imageId read them: the last few, none over 256 KiB. */
const MAX_KEPT_MANIFESTS = 16;
const MAX_KEPT_MANIFEST_BYTES = 256 << 10;

/**
 * `[host/]repo:tag` or `[host/]repo@sha256:…` → repository (without the registry host, which the
 * client already names) and reference; a bare repo means `latest`.
 */
export function splitReference(ref: string): { repo: string; reference: string } {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') ref = ref.slice(slash + 1);
  const at = ref.indexOf('@');
  if (at > 0) return { repo: ref.slice(0, at), reference: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), reference: ref.slice(colon + 1) };
  return { repo: ref, reference: 'latest' };
}

/**
 * A delta-server source that reads images from a registry, with no engine: each image is written
 * once as an OCI image archive (blobs as stored, gzip and zstd layers included) cached in `dir` (made when missing) by manifest
 * digest, and its reference kept as the archive's tag; the `keepArchives` most recently used are
 * kept (default 8). An image named by its ID (`sha256:…`, which a registry cannot look up) is one
 * of the last 4096 it read, else one whose archive is in `dir`.
 * @example
 * createDeltaServer({ source: registryArchives(new RegistryClient({ baseUrl }), '/srv/cache'), store });
 */
export function registryArchives(client: RegistryClient, dir: string, opts: ArchiveCacheOptions = {}): DeltaSource {
  const cache = new ArchiveCache(dir, keepArchivesOf(opts.keepArchives));
  /**
   * Image IDs by the digest of the manifest or index they were read from: a digest names the same
   * bytes for good, so a reference is checked with a HEAD request and read whole only when it
   * names a digest not seen before (the delta server asks at every request for a stored delta).
   */
  const ids = new Map<string, string>();
  /**
   * Where each image ID seen was read from, for a device that names its image by ID (it follows a
   * moving tag, which has moved on since): the same bound as `ids`.
   */
  const sources = new Map<string, { repo: string; digest: string }>();
  const cached = new ArchivesByImageId(dir, CACHED_ARCHIVE);
  /**
   * The manifests imageId read last, by the digest a HEAD names them by: archive() takes its
   * image's from here, where reading it again would count as a second pull on Docker Hub.
   */
  const manifests = new Map<string, ImageManifest>();
  /** A bounded memory: the oldest entry goes first. */
  function keep<V>(map: Map<string, V>, key: string, value: V, max = MAX_KNOWN_DIGESTS): void {
    if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
  /**
   * An image named by its ID: one read from the registry since the source was made (as a
   * reference by digest), else one whose archive is in the cache folder; ERR_NOT_FOUND otherwise.
   */
  async function byId(id: string): Promise<{ ref: string } | { path: string }> {
    const known = sources.get(id);
    if (known) return { ref: `${known.repo}@${known.digest}` };
    const archive = await cached.find(id);
    if (archive !== undefined) return { path: archive.path };
    throw new RolldeltaError(ErrorCode.NOT_FOUND, `the registry source has not seen image ${id} since it started, and has no archive of it: it names images by tag or digest`);
  }
  /** `read()`, a registry's 404 (no such tag or repository) as ERR_NOT_FOUND naming `ref`. */
  async function found<T>(ref: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      if (!isRolldeltaError(e) || (e.cause as { status?: number } | undefined)?.status !== 404) throw e;
      throw new RolldeltaError(ErrorCode.NOT_FOUND, `the registry has no image ${ref}; push it there`, { cause: e });
    }
  }
  const manifestOf = (repo: string, reference: string, ref: string) => found(ref, () => client.manifest(repo, reference));
  const source: DeltaSource = {
    async checkImage(ref) {
      if (isImageIdRef(ref)) return void (await byId(ref));
      const { repo, reference } = splitReference(ref);
      await found(ref, () => client.manifestDigest(repo, reference));
    },
    async imageId(ref) {
      if (isImageIdRef(ref)) {
        await byId(ref);
        return ref;
      }
      const { repo, reference } = splitReference(ref);
      const digest = await found(ref, () => client.manifestDigest(repo, reference));
      const known = digest === undefined ? undefined : ids.get(digest);
      if (known !== undefined) return known;
      // By digest where the registry told it: the tag may have moved again since the HEAD.
      const m = await manifestOf(repo, digest ?? reference, ref);
      if (digest !== undefined) {
        keep(ids, digest, m.config.digest);
        if (m.bytes.length <= MAX_KEPT_MANIFEST_BYTES) keep(manifests, digest, m, MAX_KEPT_MANIFESTS);
      }
      keep(sources, m.config.digest, { repo, digest: m.digest });
      return m.config.digest;
    },
    async archive(ref) {
      if (isImageIdRef(ref)) {
        const image = await byId(ref);
        if ('ref' in image) return source.archive(image.ref);
        await cache.used(image.path);
        return image.path;
      }
      const { repo, reference } = splitReference(ref);
      // By digest where a HEAD tells it: read once by imageId before the generation, or read now.
      const digest = await found(ref, () => client.manifestDigest(repo, reference));
      const m = (digest === undefined ? undefined : manifests.get(digest)) ?? (await manifestOf(repo, digest ?? reference, ref));
      keep(sources, m.config.digest, { repo, digest: m.digest });
      const hex = (d: string) => {
        if (!/^sha256:[0-9a-f]{64}$/.test(d)) throw new RolldeltaError(ErrorCode.CORRUPT, `the registry named a blob ${JSON.stringify(d)}, not a sha256 digest`);
        return d.slice(7);
      };
      const path = join(dir, `${hex(m.digest)}.tar`);
      if (await stat(path).then(() => true, () => false)) {
        await cache.used(path);
        return path;
      }
      const config = await client.blobBytes(repo, m.config.digest);
      async function* chunks(): AsyncGenerator<Uint8Array> {
        const out = new ChunkBuffer();
        const tar = new TarWriter(out.push);
        const file = (name: string, bytes: Uint8Array) => {
          tar.beginEntry(encodeHeader({ name, type: 'file', size: bytes.length, mode: 0o644 }), bytes.length);
          tar.write(bytes);
          tar.endEntry();
        };
        file('oci-layout', enc.encode('{"imageLayoutVersion":"1.0.0"}'));
        const index = { schemaVersion: 2, manifests: [{ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, annotations: { 'org.opencontainers.image.ref.name': ref } }] };
        file('index.json', enc.encode(JSON.stringify(index)));
        file(`blobs/sha256/${hex(m.digest)}`, m.bytes);
        file(`blobs/sha256/${hex(m.config.digest)}`, config);
        yield* out.take();
        for (const layer of m.layers) {
          tar.beginEntry(encodeHeader({ name: `blobs/sha256/${hex(layer.digest)}`, type: 'file', size: layer.size, mode: 0o644 }), layer.size);
          for await (const c of client.blob(repo, layer.digest)) {
            tar.write(c);
            yield* out.take();
          }
          tar.endEntry();
        }
        tar.finish();
        yield* out.take();
      }
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path, chunks());
      await cache.used(path);
      await cache.prune();
      return path;
    },
  };
  return source;
}
