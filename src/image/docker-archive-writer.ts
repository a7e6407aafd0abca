import type { HasherFactory } from '../core/hash.js';
import { toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { ChunkBuffer } from '../stream/chunks.js';
import { nodeSha256 } from '../stream/node-sha256.js';
import { encodeHeader } from '../tar/encode-header.js';
import { TarWriter } from '../tar/writer.js';
import { object, parseJson, strings } from './_archive-json.js';
import { chainIds, digestHex, sha256Digest } from './digest.js';

/** An image to write as a `docker save` archive. */
export interface OutputImage {
  /** The config JSON, byte for byte (its sha256 is the image ID). */
  config: Uint8Array;
  /** When given, the config must hash to it (ERR_CHECKSUM before any byte is written). */
  id?: string;
  repoTags: string[];
  /** Bottom to top; their DiffIDs must be the config's `rootfs.diff_ids`. */
  layers: Array<{
    diffId: string;
    /** Bytes of the uncompressed layer tar. */
    size: number;
    /**
     * The uncompressed layer tar; undefined leaves its `layer.tar` out (the engine has it). Chunks
     * must stay valid after being yielded (fresh buffers): the writer holds the last one back.
     */
    content?: () => AsyncIterable<Uint8Array>;
  }>;
}

/** Options of `dockerArchiveChunks`. */
export interface DockerArchiveOptions {
  /** SHA-256 to verify layers with; default node:crypto's. */
  sha256?: HasherFactory;
}

const enc = new TextEncoder();
const EPOCH = '1970-01-01T00:00:00Z';

/**
 * Streams a legacy `docker save` archive that `docker load` accepts: per layer a folder named by
 * its chain ID with `VERSION`, `json` and `layer.tar`, then `<image id>.json`, `manifest.json` and
 * `repositories`. Each layer is hashed WHILE it streams and checked against its DiffID: on a
 * mismatch ERR_CHECKSUM is thrown with the layer's last chunk still held back, so whatever reads
 * the archive sees it end inside that layer (a broken archive, never a wrong image). No copy of
 * any layer is kept. The config is checked against `id` and its diff_ids against the layers
 * before the first byte.
 * @example
 * await engine.loadImage(dockerArchiveChunks({ config, repoTags: ['app:2'], layers }));
 */
export async function* dockerArchiveChunks(image: OutputImage, opts: DockerArchiveOptions = {}): AsyncGenerator<Uint8Array> {
  const sha256 = opts.sha256 ?? nodeSha256;
  const imageId = checkImage(image);
  const dirs = chainIds(image.layers.map((l) => l.diffId)).map((c) => digestHex(c));
  const out = new ChunkBuffer();
  const tar = new TarWriter(out.push);
  const file = (name: string, bytes: Uint8Array): void => {
    tar.beginEntry(encodeHeader({ name, type: 'file', size: bytes.length, mode: 0o644 }), bytes.length);
    tar.write(bytes);
    tar.endEntry();
  };
  for (let i = 0; i < image.layers.length; i++) {
    const layer = image.layers[i];
    const dir = dirs[i];
    tar.beginEntry(encodeHeader({ name: `${dir}/`, type: 'directory', size: 0, mode: 0o755 }), 0);
    tar.endEntry();
    file(`${dir}/VERSION`, enc.encode('1.0'));
    file(`${dir}/json`, enc.encode(JSON.stringify(i === 0 ? { id: dir, created: EPOCH } : { id: dir, parent: dirs[i - 1], created: EPOCH })));
    if (layer.content === undefined) continue;
    yield* out.take();
    yield* verifiedLayer(tar, out, layer as Required<OutputImage['layers'][number]>, `${dir}/layer.tar`, sha256);
  }
  const configName = `${imageId.slice(7)}.json`;
  file(configName, image.config);
  file('manifest.json', enc.encode(JSON.stringify([{ Config: configName, RepoTags: image.repoTags.length > 0 ? image.repoTags : null, Layers: dirs.map((d) => `${d}/layer.tar`) }])));
  const repositories = repositoriesJson(image.repoTags, dirs[dirs.length - 1]);
  if (repositories !== undefined) file('repositories', enc.encode(repositories));
  tar.finish();
  yield* out.take();
}

/**
 * Writes `dockerArchiveChunks(image)` to `path` atomically: on any failure (a wrong layer
 * included) `path` is untouched and no temporary file is left.
 * @example
 * await writeDockerArchive('app-2.tar', { config, repoTags: ['app:2'], layers });
 */
export async function writeDockerArchive(path: string, image: OutputImage, opts: DockerArchiveOptions = {}): Promise<void> {
  await writeFileAtomic(path, dockerArchiveChunks(image, opts));
}

/** One layer.tar entry, hashed as it passes; the last chunk is released only once the digest matches. */
async function* verifiedLayer(
  tar: TarWriter,
  out: ChunkBuffer,
  layer: Required<OutputImage['layers'][number]>,
  name: string,
  sha256: HasherFactory,
): AsyncGenerator<Uint8Array> {
  const { size, diffId } = layer;
  const h = sha256();
  let n = 0;
  tar.beginEntry(encodeHeader({ name, type: 'file', size, mode: 0o644 }), size);
  let held = out.take(); // with an empty layer, even the header waits for the check
  for await (const c of layer.content()) {
    if (c.length === 0) continue;
    n += c.length;
    if (n > size) throw checksum(diffId, `the layer content is longer than its ${size} bytes`);
    h.update(c);
    tar.write(c);
    yield* held;
    held = out.take();
  }
  const got = `sha256:${toHex(h.digest())}`;
  if (n !== size) throw checksum(diffId, `the layer content has ${n} bytes, not ${size}`);
  if (got !== diffId) throw checksum(diffId, `the layer content hashes to ${got}`);
  tar.endEntry();
  yield* held;
  yield* out.take();
}

function checksum(diffId: string, found: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CHECKSUM, `layer ${diffId}: ${found}; the rebuilt layer is wrong, the archive was cut short on purpose (do not load it) — fetch the update again`);
}

/** Checks everything that needs no layer bytes, before the first byte; returns the image ID. */
function checkImage(image: OutputImage): string {
  if (image === null || typeof image !== 'object' || !(image.config instanceof Uint8Array) || !Array.isArray(image.layers) || !Array.isArray(image.repoTags)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'dockerArchiveChunks needs { config: Uint8Array, repoTags: string[], layers: [...] }');
  }
  const id = sha256Digest(image.config);
  if (image.id !== undefined && image.id !== id) throw new RolldeltaError(ErrorCode.CHECKSUM, `the image config hashes to ${id}, not the expected image ID ${image.id}; refusing to write a wrong image`);
  const rootfs = object(object(parseJson(image.config, 'the image config'), 'the image config').rootfs, 'the image config rootfs');
  const diffIds = strings(rootfs.diff_ids, 'the image config rootfs.diff_ids');
  const given = image.layers.map((l) => l.diffId);
  if (diffIds.length !== given.length || diffIds.some((d, i) => d !== given[i])) {
    throw new RolldeltaError(ErrorCode.CHECKSUM, `the image config lists diff_ids [${diffIds.join(', ')}] but the layers given are [${given.join(', ')}]; the config and layers do not belong together`);
  }
  for (const l of image.layers) {
    if (!Number.isSafeInteger(l.size) || l.size < 0) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `layer ${l.diffId} size must be a non-negative integer, got ${l.size}`);
    if (l.content !== undefined && typeof l.content !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `layer ${l.diffId} content must be a function returning an async iterable`);
  }
  for (const t of image.repoTags) {
    if (typeof t !== 'string' || t === '') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `repo tag ${JSON.stringify(t)} is not a repo:tag name`);
  }
  return id;
}

/** The legacy `repositories` file: `{ repo: { tag: topLayerDir } }`, digest references skipped. */
function repositoriesJson(repoTags: string[], top: string | undefined): string | undefined {
  if (top === undefined) return undefined;
  const repos: Record<string, Record<string, string>> = {};
  for (const t of repoTags) {
    const colon = t.lastIndexOf(':');
    if (t.includes('@') || colon <= t.lastIndexOf('/')) continue;
    (repos[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = top;
  }
  return Object.keys(repos).length > 0 ? JSON.stringify(repos) : undefined;
}
