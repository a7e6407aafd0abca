import { createHash } from 'node:crypto';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { ChunkBuffer } from '../stream/chunks.js';
import { encodeHeader } from '../tar/encode-header.js';
import { TarWriter } from '../tar/writer.js';
import { digestHex } from './digest.js';

/** An image to write as a `docker save` archive. */
export interface OutputImage {
  config: Uint8Array;
  /** 'sha256:<hex>' of the config; checked. */
  id: string;
  repoTags: string[];
  layers: Array<{
    diffId: string;
    size: number;
    /** The uncompressed layer tar; undefined leaves it out (the engine already has that layer). */
    content?: () => AsyncIterable<Uint8Array>;
  }>;
}

const encoder = new TextEncoder();

/**
 * Streams a legacy `docker save` archive (`<layer>/layer.tar`, `<id>.json`, `manifest.json`)
 * that `docker load` accepts. Every layer is hashed while it streams and checked against its
 * DiffID, the config against the image ID: a mismatch throws ERR_CHECKSUM before the archive's
 * manifest is written, so a loader sees a broken archive, never a wrong image.
 * @example
 * await pipeline(Readable.from(dockerArchiveChunks(image)), createWriteStream('out.tar'));
 */
export async function* dockerArchiveChunks(image: OutputImage): AsyncGenerator<Uint8Array> {
  const out = new ChunkBuffer();
  const tar = new TarWriter(out.push);
  const file = (name: string, bytes: Uint8Array) => {
    tar.beginEntry(encodeHeader({ name, type: 'file', size: bytes.length, mode: 0o644 }), bytes.length);
    tar.write(bytes);
    tar.endEntry();
  };
  const layerPaths: string[] = [];
  for (const layer of image.layers) {
    const path = `${digestHex(layer.diffId)}/layer.tar`;
    layerPaths.push(path);
    if (!layer.content) continue;
    tar.beginEntry(encodeHeader({ name: path, type: 'file', size: layer.size, mode: 0o644 }), layer.size);
    const h = createHash('sha256');
    let n = 0;
    for await (const c of layer.content()) {
      n += c.length;
      if (n > layer.size) throw new RolldeltaError(ErrorCode.CHECKSUM, `layer ${layer.diffId} is longer than its ${layer.size} bytes`);
      h.update(c);
      tar.write(c);
      yield* out.take();
    }
    const got = `sha256:${h.digest('hex')}`;
    if (n !== layer.size || got !== layer.diffId) {
      throw new RolldeltaError(ErrorCode.CHECKSUM, `the rebuilt layer has digest ${got} (${n} bytes); expected ${layer.diffId} (${layer.size} bytes)`);
    }
    tar.endEntry();
    yield* out.take();
  }
  const configId = `sha256:${createHash('sha256').update(image.config).digest('hex')}`;
  if (configId !== image.id) throw new RolldeltaError(ErrorCode.CHECKSUM, `the image config has digest ${configId}; expected ${image.id}`);
  const configName = `${digestHex(image.id)}.json`;
  file(configName, image.config);
  file('manifest.json', encoder.encode(JSON.stringify([{ Config: configName, RepoTags: image.repoTags.length ? image.repoTags : null, Layers: layerPaths }])));
  tar.finish();
  yield* out.take();
}
