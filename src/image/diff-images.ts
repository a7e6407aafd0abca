import { createHash } from 'node:crypto';
import { DiffIndex } from '../core/diff-index.js';
import { DiffDelta } from '../format/diff-delta.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { ChunkBuffer } from '../stream/chunks.js';
import { nodeSha256 } from '../stream/node-sha256.js';
import { ImageArchive } from './archive-reader.js';
import type { BasisCache, IndexedBasis } from './basis-cache.js';
import { encodeImageDeltaHeader, type ImageDeltaLayer } from './image-delta-format.js';
import type { ImageRecord } from './image-types.js';
import { measureLayer } from './pull-size.js';

/** What an image diff produced, against what a regular pull would have moved. */
export interface ImageDiffSummary {
  /** Bytes of the image delta file. */
  deltaBytes: number;
  /** gzip bytes of the new image's layers the old image lacks: what `docker pull` would move. */
  pullBytes: number;
  /** Layers rebuilt from the delta, and layers taken from the old image as they are. */
  sentLayers: number;
  reusedLayers: number;
}

export interface ImageDiffOptions {
  /** Deflate level of literal bytes, 0-9 (default 9: a delta is made once and fetched often). */
  level?: number;
  /** Which image of a multi-image archive: an ID or repo:tag. */
  oldImage?: string;
  newImage?: string;
  /** Indexes of recently used old images, so a known base is not read and indexed again. */
  basisCache?: BasisCache;
}

async function readAllLayers(archive: ImageArchive, image: ImageRecord): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const layer of image.layers) {
    for await (const c of archive.layerStream(layer)) {
      parts.push(c);
      n += c.length;
    }
  }
  return Buffer.concat(parts, n);
}

/**
 * The delta between two image archives, comparing content across all layers: new layers whose
 * DiffID the old image has are referenced; every other new layer is diffed against the whole old
 * image (all its layers concatenated), so files that moved between layers, a rebuilt base or a
 * squashed image cost little. Memory: the old image's layers uncompressed plus the diff index
 * (at most as much again); the new layers are streamed.
 * @example
 * const s = await diffImages('app-v1.tar', 'app-v2.tar', 'v1-v2.rdimg');
 * console.log(`${s.deltaBytes} bytes instead of ${s.pullBytes}`);
 */
export async function diffImages(oldPath: string, newPath: string, outPath: string, opts: ImageDiffOptions = {}): Promise<ImageDiffSummary> {
  const oldArchive = await ImageArchive.open(oldPath);
  try {
    const newArchive = await ImageArchive.open(newPath);
    try {
      const oldImage = oldArchive.image(opts.oldImage);
      const newImage = newArchive.image(opts.newImage);
      const have = new Set(oldImage.layers.map((l) => l.diffId));
      const layers: ImageDeltaLayer[] = [];
      let pullBytes = 0;
      for (const layer of newImage.layers) {
        const from = have.has(layer.diffId) ? 'old' : 'delta';
        // A pull moves only the layers the old image lacks; gzip ones are measured as stored.
        const m = await measureLayer(newArchive.layerStream(layer), from === 'delta' && layer.compression !== 'gzip');
        if (from === 'delta') pullBytes += layer.compression === 'gzip' ? layer.storedSize : m.gzipBytes;
        layers.push({ diffId: layer.diffId, size: m.rawBytes, from });
      }
      let indexed: IndexedBasis | undefined = opts.basisCache?.get(oldImage.id);
      if (!indexed) {
        const basis = await readAllLayers(oldArchive, oldImage);
        indexed = { index: DiffIndex.build(basis), sha256: new Uint8Array(createHash('sha256').update(basis).digest()) };
        opts.basisCache?.set(oldImage.id, indexed);
      }
      const { index, sha256 } = indexed;
      const header = encodeImageDeltaHeader({
        old: { id: oldImage.id, diffIds: oldImage.layers.map((l) => l.diffId) },
        new: { id: newImage.id, config: newImage.config, repoTags: newImage.repoTags, layers },
        pullBytes,
      });
      async function* chunks(): AsyncGenerator<Uint8Array> {
        yield header;
        const out = new ChunkBuffer();
        const d = new DiffDelta(index, out.push, { level: opts.level ?? 9, sha256: nodeSha256, basisSha256: sha256 });
        for (let i = 0; i < layers.length; i++) {
          if (layers[i].from === 'old') continue;
          for await (const c of newArchive.layerStream(newImage.layers[i])) {
            d.push(c);
            yield* out.take();
          }
        }
        d.finish();
        yield* out.take();
      }
      const deltaBytes = await writeFileAtomic(outPath, chunks());
      const sent = layers.filter((l) => l.from === 'delta').length;
      return { deltaBytes, pullBytes, sentLayers: sent, reusedLayers: layers.length - sent };
    } finally {
      await newArchive.close();
    }
  } finally {
    await oldArchive.close();
  }
}
