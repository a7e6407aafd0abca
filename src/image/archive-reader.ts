import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { FileBasis } from '../stream/file-basis.js';
import { namingFile } from '../stream/io-error.js';
import { dockerManifestImages } from './_archive-docker.js';
import { ARCHIVE_PROBE_BYTES, checkArchiveStart } from './_archive-start.js';
import { type ImageLocation, corrupt, object, parseJson, strings } from './_archive-json.js';
import { familiarRef, ociLayoutImages } from './_archive-oci.js';
import { COMPRESSION_PROBE_BYTES, decompressedChunks, detectCompression } from './compression.js';
import { digestHex, sha256Digest } from './digest.js';
import type { ArchiveFormat, ImageLayerRef, ImageRecord } from './image-types.js';
import { checkRingSize, ReadRing } from './read-ring.js';
import { indexTarFile, resolveTarEntry, type TarFileEntry } from './tar-file-index.js';

/** Options of `ImageArchive.open`. */
export interface ImageArchiveOptions {
  /** In a multi-image archive, the one to keep: `repo:tag` (as `docker` spells it) or an image ID (prefix). */
  image?: string;
}

/** Largest metadata entry (manifest, index, config) read into memory. */
const MAX_JSON = 16 << 20;
/** Positional read size when streaming a layer. */
const READ_CHUNK = 1 << 20;
/** Positional read size of a compressed layer: the decoder copies or consumes each before the next. */
const COMPRESSED_READ_CHUNK = 256 << 10;

/**
 * An image archive opened for reading, whatever made it: `docker save` before Docker 25
 * (`docker-legacy`) and from 25 on (`docker-oci`), an OCI image layout archive (`oci`), or skopeo's
 * `docker-archive:` (`skopeo-docker`). Only the tar headers are scanned on open; configs are read
 * whole, layers stay in place and are read with positional reads. Each layer's compression is
 * told from its first bytes (plain tar, gzip or zstd; xz and bzip2 are ERR_UNSUPPORTED). Another kind
 * of file (no tar, or a tar without manifest.json or index.json) is ERR_BAD_MAGIC naming it.
 * @example
 * const a = await ImageArchive.open('app.tar', { image: 'app:2' });
 * try {
 *   for (const layer of a.images[0].layers) for await (const chunk of a.layerStream(layer)) hash.update(chunk);
 * } finally { await a.close() }
 */
export class ImageArchive {
  private constructor(
    private readonly file: FileBasis,
    private readonly index: Map<string, TarFileEntry>,
    readonly format: ArchiveFormat,
    readonly images: ImageRecord[],
  ) {}

  /** Opens and indexes `path`; with `opts.image`, `images` holds only that image. */
  static async open(path: string, opts: ImageArchiveOptions = {}): Promise<ImageArchive> {
    const file = await FileBasis.open(path, 'the image archive');
    try {
      checkArchiveStart(await file.read(0, Math.min(ARCHIVE_PROBE_BYTES, file.length)), path);
      // The tar reader's messages say "the archive": name which one.
      const index = await indexTarFile(file).catch((e: unknown) => {
        throw namingFile(e, path);
      });
      const reader = new ImageArchive(file, index, 'oci', []);
      const readJson = async (name: string, what: string) => parseJson(await reader.readEntry(name), what);
      let format: ArchiveFormat;
      let locations: ImageLocation[];
      if (index.has('manifest.json')) {
        locations = await dockerManifestImages(readJson);
        format = index.has('index.json') && index.has('oci-layout') ? 'docker-oci' : locations.every((l) => l.layerEntries.every((e) => /(^|\/)layer\.tar$/.test(e))) ? 'docker-legacy' : 'skopeo-docker';
      } else if (index.has('index.json')) {
        locations = await ociLayoutImages(readJson);
        format = 'oci';
      } else {
        throw new RolldeltaError(ErrorCode.BAD_MAGIC, `${path} is a tar but not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout) at its root`);
      }
      let images: ImageRecord[] = [];
      for (const loc of locations) images.push(await reader.record(loc));
      if (opts.image !== undefined) images = [pickImage(images, opts.image, path)];
      return new ImageArchive(file, index, format, images);
    } catch (e) {
      await file.close().catch(() => {});
      throw e;
    }
  }

  /**
   * The image `ref` names (`repo:tag` or ID prefix), or the only one when `ref` is omitted;
   * ERR_INVALID_ARGUMENT when there is no such image or the choice is ambiguous.
   * @example
   * const img = archive.image('app:2');
   */
  image(ref?: string): ImageRecord {
    if (ref !== undefined) return pickImage(this.images, ref, this.file.path);
    if (this.images.length !== 1) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${this.file.path} holds ${this.images.length} images; name the one to use (repo:tag or ID)`);
    }
    return this.images[0];
  }

  /**
   * The bytes of the entry `name` (links followed), read whole: for small entries such as
   * manifests and configs (more than 16 MiB is ERR_LIMIT).
   * @example
   * const manifest = JSON.parse(new TextDecoder().decode(await a.readEntry('manifest.json')));
   */
  async readEntry(name: string): Promise<Uint8Array> {
    const e = resolveTarEntry(this.index, name);
    if (e.size > MAX_JSON) throw new RolldeltaError(ErrorCode.LIMIT, `archive entry ${name} has ${e.size} bytes, more than the ${MAX_JSON} read whole; stream it instead`);
    return this.file.read(e.dataOffset, e.size);
  }

  /**
   * Random access to an uncompressed layer's bytes where they lie in the archive (no copy), or
   * undefined for a compressed layer.
   * @example
   * const basis = a.layerBasis(layer); // feed it to a delta as the old side
   */
  layerBasis(layer: ImageLayerRef): RandomAccessBasis | undefined {
    if (layer.compression !== 'none') return undefined;
    const e = this.layerEntry(layer);
    const file = this.file;
    const { dataOffset, size } = e;
    const check = (position: number, length: number): void => {
      if (!(position >= 0 && length >= 0 && position + length <= size)) {
        throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a read of ${length} bytes at ${position} is outside layer ${layer.diffId} (${size} bytes)`);
      }
    };
    return {
      length: size,
      read(position: number, length: number) {
        check(position, length);
        return file.read(dataOffset + position, length);
      },
      readInto(buf: Uint8Array, offset: number, position: number, length: number) {
        check(position, length);
        return file.readInto(buf, offset, dataOffset + position, length);
      },
    };
  }

  /**
   * The uncompressed layer tar, streamed: plain layers in 1 MiB positional reads, gzip and zstd
   * layers decoded while streaming with bounded memory. The bytes are not checked against the DiffID
   * here: hash them if you need to.
   * `reuseChunks` (plain layers) cycles four read buffers instead of a fresh one per MiB, which
   * pile up as garbage between collections: for a consumer done with a chunk before it asks for
   * the third one after it (writeFileAtomic behind dockerArchiveChunks, which holds one back).
   * `true` gives this stream its own four; a {@link ReadRing} of {@link ImageArchive.READ_BYTES}
   * shares them with the other layers the same consumer streams one after another.
   * @example
   * for await (const chunk of a.layerStream(layer)) out.write(chunk);
   */
  layerStream(layer: ImageLayerRef, reuseChunks: boolean | ReadRing = false): AsyncIterable<Uint8Array> {
    const e = this.layerEntry(layer);
    if (layer.compression === 'none') {
      const ring = reuseChunks === true ? new ReadRing(READ_CHUNK) : reuseChunks === false ? undefined : reuseChunks;
      checkRingSize(ring, READ_CHUNK, 'a layer read ring');
      return this.rawChunks(e, READ_CHUNK, ring);
    }
    return decompressedChunks(layer.compression, this.rawChunks(e, COMPRESSED_READ_CHUNK, undefined), `layer ${layer.diffId} (${layer.entry})`);
  }

  /** The size of plain layers' reads, for a {@link ReadRing} shared across layerStream calls. */
  static readonly READ_BYTES = READ_CHUNK;

  /** Closes the archive file; streams and bases obtained from it stop working. */
  close(): Promise<void> {
    return this.file.close();
  }

  /**
   * An entry's bytes in `chunk`-byte reads, the next one in flight while this one is used; with a
   * ring, full-size reads go into its four buffers (one read ahead, one the consumer holds, two it
   * may still be writing) and a short last one into its own.
   */
  private async *rawChunks(e: TarFileEntry, chunk: number, ring: ReadRing | undefined): AsyncGenerator<Uint8Array> {
    const read = (p: number) => {
      const n = Math.min(chunk, e.size - p);
      let r: Promise<Uint8Array>;
      if (ring && n === chunk) {
        const buf = ring.take();
        r = this.file.readInto(buf, 0, e.dataOffset + p, n).then(() => buf);
      } else {
        r = this.file.read(e.dataOffset + p, n);
      }
      r.catch(() => {}); // awaited on the next turn; one left behind by a consumer that stopped is not unhandled
      return r;
    };
    let next = e.size > 0 ? read(0) : undefined;
    for (let p = 0; next; p += chunk) {
      const c = await next;
      next = p + chunk < e.size ? read(p + chunk) : undefined;
      yield c;
    }
  }

  private layerEntry(layer: ImageLayerRef): TarFileEntry {
    const e = resolveTarEntry(this.index, layer.entry);
    if (e.size !== layer.storedSize) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `layer ${layer.diffId} says ${layer.storedSize} bytes but ${layer.entry} has ${e.size}: it comes from another archive`);
    }
    return e;
  }

  private async record(loc: ImageLocation): Promise<ImageRecord> {
    const configEntry = this.checkedEntry(loc.configEntry, loc.configSize, 'config');
    const config = await this.readEntry(configEntry.name);
    const parsed = object(parseJson(config, `config ${loc.configEntry}`), `config ${loc.configEntry}`);
    const rootfs = object(parsed.rootfs, `config ${loc.configEntry} rootfs`);
    const diffIds = strings(rootfs.diff_ids, `config ${loc.configEntry} rootfs.diff_ids`);
    if (diffIds.length !== loc.layerEntries.length) {
      throw corrupt(`config ${loc.configEntry} lists ${diffIds.length} diff_ids but the manifest names ${loc.layerEntries.length} layers`);
    }
    const layers: ImageLayerRef[] = [];
    for (let i = 0; i < diffIds.length; i++) {
      digestHex(diffIds[i], `diff_id ${i} of ${loc.configEntry}`);
      const e = this.checkedEntry(loc.layerEntries[i], loc.layerSizes?.[i], `layer ${i}`);
      const head = await this.file.read(e.dataOffset, Math.min(COMPRESSION_PROBE_BYTES, e.size));
      layers.push({ diffId: diffIds[i], entry: e.name, storedSize: e.size, compression: detectCompression(head, `${i} (${e.name})`) });
    }
    return { id: sha256Digest(config), config, repoTags: loc.repoTags.slice(), layers };
  }

  /** The entry a manifest names, links resolved, its size checked against what the manifest declares. */
  private checkedEntry(name: string, declared: number | undefined, what: string): TarFileEntry {
    const e = resolveTarEntry(this.index, name);
    if (declared !== undefined && declared !== e.size) throw corrupt(`the manifest says ${what} ${name} has ${declared} bytes but the archive holds ${e.size}`);
    return e;
  }
}

function pickImage(images: ImageRecord[], ref: string, path: string): ImageRecord {
  const want = familiarRef(ref);
  const byTag = images.filter((i) => i.repoTags.some((t) => t === ref || familiarRef(t) === want));
  if (byTag.length === 1) return byTag[0];
  const hex = ref.replace(/^sha256:/, '');
  const byId = /^[0-9a-f]{6,64}$/.test(hex) ? images.filter((i) => i.id.slice(7).startsWith(hex)) : [];
  const uniqueIds = new Set((byTag.length > 0 ? byTag : byId).map((i) => i.id));
  if (uniqueIds.size === 1) return (byTag.length > 0 ? byTag : byId)[0];
  const known = images.map((i) => (i.repoTags.length ? i.repoTags.join(', ') : i.id.slice(0, 19))).join('; ');
  throw new RolldeltaError(
    ErrorCode.INVALID_ARGUMENT,
    uniqueIds.size > 1 ? `${JSON.stringify(ref)} matches several images in ${path}; give a full ID` : `${path} has no image ${JSON.stringify(ref)}; it holds: ${known || 'no images'}`,
  );
}
