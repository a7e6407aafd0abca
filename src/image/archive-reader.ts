import { Gunzip } from 'fflate';
import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { FileBasis } from '../stream/file-basis.js';
import { digestHex, sha256Digest } from './digest.js';
import type { ArchiveFormat, ImageLayerRef, ImageRecord, LayerCompression } from './image-types.js';
import { indexTarFile, type TarFileEntry } from './tar-file-index.js';

/** Largest JSON member (manifest, index, config) read into memory. */
const MAX_JSON = 16 << 20;
const READ_CHUNK = 1 << 20;
const HARDLINK = 0x31;
const SYMLINK = 0x32;

function corrupt(what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `${what}; the archive is not a docker save or OCI image archive, or it is damaged`);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw corrupt(`${what} is not valid JSON`);
  }
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw corrupt(`${what} is not a list of strings`);
  return v;
}

/**
 * An image archive opened for reading: `docker save` output (Docker before 25: `manifest.json`,
 * `<id>/layer.tar`; Docker 25+ and skopeo's docker-archive: `manifest.json` naming blobs) or an OCI
 * image layout archive (`index.json`, `blobs/sha256/`). Members are read in place with positional
 * reads; layers may be plain tar or gzip (told by their first bytes).
 * @example
 * const a = await ImageArchive.open('app.tar');
 * for (const layer of a.images[0].layers) for await (const chunk of a.layerStream(layer)) hash.update(chunk);
 * await a.close();
 */
export class ImageArchive {
  private constructor(
    private readonly file: FileBasis,
    private readonly entries: Map<string, TarFileEntry>,
    readonly format: ArchiveFormat,
    readonly images: ImageRecord[],
  ) {}

  static async open(path: string): Promise<ImageArchive> {
    const file = await FileBasis.open(path);
    try {
      const entries = await indexTarFile(file);
      const probe = new ImageArchive(file, entries, 'docker', []);
      if (entries.has('manifest.json')) return new ImageArchive(file, entries, 'docker', await probe.dockerImages());
      if (entries.has('index.json')) return new ImageArchive(file, entries, 'oci', await probe.ociImages());
      throw corrupt(`${path} has neither manifest.json nor index.json`);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /** The image whose ID is `id`, or the only one; ERR_INVALID_ARGUMENT when that is ambiguous. */
  image(id?: string): ImageRecord {
    const found = id ? this.images.find((i) => i.id === id || i.repoTags.includes(id)) : this.images.length === 1 ? this.images[0] : undefined;
    if (!found) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, id ? `the archive has no image ${id}` : `the archive holds ${this.images.length} images; name the one to use`);
    }
    return found;
  }

  /** The member `name` (links followed), read whole; for small members such as JSON. */
  async readEntry(name: string): Promise<Uint8Array> {
    const e = this.resolve(name);
    if (e.size > MAX_JSON) throw new RolldeltaError(ErrorCode.LIMIT, `archive member ${name} has ${e.size} bytes, more than ${MAX_JSON} allowed for metadata`);
    return this.file.read(e.dataOffset, e.size);
  }

  /** Random access to an uncompressed layer in place, or undefined for a compressed one. */
  layerBasis(layer: ImageLayerRef): RandomAccessBasis | undefined {
    if (layer.compression !== 'none') return undefined;
    const e = this.resolve(layer.entry);
    const file = this.file;
    return { length: e.size, read: (position, length) => file.read(e.dataOffset + position, length) };
  }

  /** The uncompressed layer tar, streamed in about 1 MiB chunks (gzip decoded on the way). */
  async *layerStream(layer: ImageLayerRef): AsyncGenerator<Uint8Array> {
    const e = this.resolve(layer.entry);
    if (layer.compression === 'none') {
      for (let p = 0; p < e.size; p += READ_CHUNK) yield await this.file.read(e.dataOffset + p, Math.min(READ_CHUNK, e.size - p));
      return;
    }
    let out: Uint8Array[] = [];
    const gz = new Gunzip((chunk) => out.push(chunk));
    for (let p = 0; p < e.size; p += READ_CHUNK) {
      const n = Math.min(READ_CHUNK, e.size - p);
      try {
        gz.push(await this.file.read(e.dataOffset + p, n), p + n >= e.size);
      } catch (err) {
        throw new RolldeltaError(ErrorCode.CORRUPT, `layer ${layer.diffId} is not valid gzip: ${(err as Error).message}`, { cause: err });
      }
      yield* out;
      out = [];
    }
  }

  close(): Promise<void> {
    return this.file.close();
  }

  /** Follows hard and symbolic links (skopeo and multi-image saves link shared layers). */
  private resolve(name: string): TarFileEntry {
    let e = this.entries.get(name);
    for (let hops = 0; e && (e.typeflag === HARDLINK || e.typeflag === SYMLINK) && hops < 8; hops++) {
      const target = e.typeflag === SYMLINK && !e.linkname.startsWith('/') ? joinPath(dirOf(e.name), e.linkname) : e.linkname.replace(/^\/+/, '');
      e = this.entries.get(target);
    }
    if (!e || e.typeflag === HARDLINK || e.typeflag === SYMLINK) throw corrupt(`member ${JSON.stringify(name)} is missing or is a link loop`);
    return e;
  }

  private async compressionOf(entry: string): Promise<LayerCompression> {
    const e = this.resolve(entry);
    const head = await this.file.read(e.dataOffset, Math.min(4, e.size));
    if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      throw new RolldeltaError(ErrorCode.UNSUPPORTED, `layer ${entry} is zstd-compressed, which this build cannot decode; save the image uncompressed or with gzip layers`);
    }
    return 'none';
  }

  private async record(configEntry: string, layerEntries: string[], repoTags: string[]): Promise<ImageRecord> {
    const config = await this.readEntry(configEntry);
    const parsed = parseJson(config, configEntry) as { rootfs?: { diff_ids?: unknown } };
    const diffIds = strings(parsed?.rootfs?.diff_ids, `${configEntry} rootfs.diff_ids`);
    if (diffIds.length !== layerEntries.length) throw corrupt(`${configEntry} lists ${diffIds.length} diff_ids for ${layerEntries.length} layers`);
    const layers: ImageLayerRef[] = [];
    for (let i = 0; i < layerEntries.length; i++) {
      digestHex(diffIds[i]);
      const entry = layerEntries[i];
      layers.push({ diffId: diffIds[i], entry, storedSize: this.resolve(entry).size, compression: await this.compressionOf(entry) });
    }
    return { id: sha256Digest(config), config, repoTags, layers };
  }

  private async dockerImages(): Promise<ImageRecord[]> {
    const manifest = parseJson(await this.readEntry('manifest.json'), 'manifest.json');
    if (!Array.isArray(manifest)) throw corrupt('manifest.json is not a list');
    const out: ImageRecord[] = [];
    for (const m of manifest as Array<Record<string, unknown>>) {
      if (typeof m?.Config !== 'string') throw corrupt('a manifest.json item has no Config');
      out.push(await this.record(m.Config, strings(m.Layers, 'manifest.json Layers'), m.RepoTags == null ? [] : strings(m.RepoTags, 'manifest.json RepoTags')));
    }
    return out;
  }

  private async ociImages(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = [];
    const blob = (digest: unknown) => `blobs/sha256/${digestHex(String(digest))}`;
    const visit = async (descriptor: Record<string, unknown>, depth: number): Promise<void> => {
      const doc = parseJson(await this.readEntry(blob(descriptor.digest)), 'an OCI blob') as Record<string, unknown>;
      if (Array.isArray(doc.manifests)) {
        if (depth > 2) throw corrupt('OCI indexes nest too deeply');
        const list = doc.manifests as Array<Record<string, unknown>>;
        const amd64 = list.find((d) => (d.platform as Record<string, unknown> | undefined)?.architecture === 'amd64');
        await visit(amd64 ?? list[0], depth + 1);
        return;
      }
      const config = doc.config as Record<string, unknown> | undefined;
      const layers = doc.layers as Array<Record<string, unknown>> | undefined;
      if (!config || !Array.isArray(layers)) throw corrupt('an OCI manifest has no config or layers');
      const ref = (descriptor.annotations as Record<string, string> | undefined)?.['org.opencontainers.image.ref.name'];
      out.push(await this.record(blob(config.digest), layers.map((l) => blob(l.digest)), ref ? [ref] : []));
    };
    const index = parseJson(await this.readEntry('index.json'), 'index.json') as Record<string, unknown>;
    if (!Array.isArray(index.manifests)) throw corrupt('index.json has no manifests');
    for (const d of index.manifests as Array<Record<string, unknown>>) await visit(d, 0);
    return out;
  }
}

function dirOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}

function joinPath(dir: string, rel: string): string {
  const parts = dir ? dir.split('/') : [];
  for (const p of rel.split('/')) {
    if (p === '..') parts.pop();
    else if (p !== '.' && p !== '') parts.push(p);
  }
  return parts.join('/');
}
