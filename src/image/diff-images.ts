import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { DiffDelta } from '../format/diff-delta.js';
import { CM_LEVEL } from '../format/native-codes.js';
import { throwIfAborted } from '../stream/abort.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { ChunkBuffer } from '../stream/chunks.js';
import { BasisIndexer, buildDiffIndex } from '../stream/diff-index-build.js';
import { MAX_PACKING } from '../stream/_producer-chunks.js';
import { nodeRawDeflate } from '../stream/node-raw-deflate.js';
import { nodeSha256 } from '../stream/node-sha256.js';
import type { Progress } from '../stream/progress.js';
import { resolveWorkerCount, type WorkerCount } from '../stream/worker-count.js';
import { WorkerFramePacker } from '../stream/worker-frame-packer.js';
import { checkLayerDigest, LayerCheck } from './_layer-check.js';
import { ImageArchive } from './archive-reader.js';
import type { BasisCache, IndexedBasis } from './basis-cache.js';
import { encodeImageDeltaHeader, packImageConfig, type ImageDeltaLayer } from './image-delta-format.js';
import type { ImageRecord } from './image-types.js';
import { measureLayer } from './pull-size.js';
import { ReadRing } from './read-ring.js';

/** What an image diff produced, against what a regular pull would have moved. */
export interface ImageDiffSummary {
  /** Bytes of the image delta file. */
  deltaBytes: number;
  /**
   * Bytes of the new image's layers the old image lacks, compressed as a pull moves them: what
   * `docker pull` would move (gzip and zstd layers as stored, plain ones as gzip would make them).
   * Only with `measurePull: true`.
   */
  pullBytes?: number;
  /** Layers rebuilt from the delta, and layers taken from the old image as they are. */
  newLayers: number;
  reusedLayers: number;
  /** Same as `newLayers` (kept for existing callers). */
  sentLayers: number;
  /** `pullBytes / deltaBytes`: how many times less than a pull the delta moves (absent when `pullBytes` is). */
  ratio?: number;
}

export interface ImageDiffOptions {
  /** Deflate level of literal bytes, 0-9 (default 9: a delta is made once and fetched often). */
  level?: number;
  /** Which image of a multi-image archive: an ID or repo:tag (default: the only one). */
  image?: { old?: string; new?: string };
  /** Same as `image.old` / `image.new` (kept for existing callers). */
  oldImage?: string;
  newImage?: string;
  /** Called about every MiB of new layer bytes diffed; `total` is all the bytes to diff. */
  onProgress?: (p: Progress) => void;
  /** Indexes of recently used old images, so a known base is not read and indexed again. */
  basisCache?: BasisCache;
  /**
   * Threads indexing the old image (see buildDiffIndex) and context-mixing frames at level 9
   * (see WorkerFramePacker: started at the first frame worth it): 1 (default), a count, or 'auto'.
   * The delta is the same.
   */
  workers?: WorkerCount;
  /**
   * With `workers` > 1, at level 9: context-mix every frame of more than a few KiB on a worker
   * thread, the last one too, so this thread's event loop stays free (the delta server sets it;
   * see WorkerFramePackerOptions).
   */
  keepEventLoopFree?: boolean;
  /** Stops the diff at its next chunk (ERR_ABORTED); a file output is then left untouched. */
  signal?: AbortSignal;
  /**
   * Also measure what a pull of the new layers would move (`pullBytes`, `ratio`, and the header's
   * report of it); default false. Plain layers (`docker save`'s) are gzipped to know, before the
   * delta's first byte (the header carries the figure): at ~50 MB/s here that made a diff after a
   * base image rebuild take 5.7 s instead of 1.3 (bench:image). The CLI's image diff turns it on
   * for its summary line; no device reads the figure.
   */
  measurePull?: boolean;
}

/** Where an image diff writes its delta: a path (written atomically) or a consumer of its chunks. */
export type ImageDiffOutput = string | ((chunks: AsyncIterable<Uint8Array>) => Promise<unknown>);

/**
 * The new image's layers as the delta lists them (from the old image, or rebuilt from the delta),
 * and, when `pull` is set, the bytes a pull would move: the layers the old image lacks, gzip and
 * zstd ones as stored (a registry serves them so), plain ones as gzip level 6 would make them.
 */
async function measureLayers(archive: ImageArchive, image: ImageRecord, have: Set<string>, pull: boolean): Promise<{ layers: ImageDeltaLayer[]; pullBytes?: number }> {
  const layers: ImageDeltaLayer[] = [];
  let pullBytes = 0;
  for (const layer of image.layers) {
    const from = have.has(layer.diffId) ? 'old' : 'delta';
    const gzip = pull && from === 'delta' && layer.compression === 'none';
    // A plain layer's size is its tar entry's: no need to read it unless it is to be gzipped.
    const known = archive.layerBasis(layer)?.length;
    const m = !gzip && known !== undefined ? { rawBytes: known, gzipBytes: 0 } : await measureLayer(archive.layerStream(layer), gzip);
    if (from === 'delta') pullBytes += layer.compression === 'none' ? m.gzipBytes : layer.storedSize;
    layers.push({ diffId: layer.diffId, size: m.rawBytes, from });
  }
  return { layers, pullBytes: pull ? pullBytes : undefined };
}

/** How indexOldLayers reads: `path` names the archive in errors. */
interface IndexLayersOptions {
  path: string;
  threads: number;
  signal?: AbortSignal;
}

/**
 * The old image's layers, uncompressed, end to end in one buffer, indexed for the diff and each
 * checked against its DiffID (ERR_CHECKSUM): a damaged old layer would make every delta from this
 * image wrong for every device, whose copy is the right one. With worker threads the hashing is
 * theirs (see BasisIndexer's `hashRanges`), as is part of the index.
 */
async function indexOldLayers(archive: ImageArchive, image: ImageRecord, { path, threads, signal }: IndexLayersOptions): Promise<IndexedBasis> {
  const sizes = image.layers.map((l) => archive.layerBasis(l)?.length);
  let indexed: IndexedBasis;
  if (sizes.every((n) => n !== undefined)) {
    // Uncompressed layers have known sizes: fill one buffer, never holding the image twice (in
    // shared memory when worker threads index it), indexed as it fills.
    const ends = layerEnds(sizes);
    const total = ends.at(-1) ?? 0;
    const out = new Uint8Array(threads > 1 ? new SharedArrayBuffer(total) : new ArrayBuffer(total));
    const indexer = new BasisIndexer(out, { workers: threads, hashRanges: ends });
    try {
      let at = 0;
      const ring = new ReadRing(ImageArchive.READ_BYTES);
      for (const layer of image.layers) {
        // Copied at once: the reads may cycle through reused buffers.
        for await (const c of archive.layerStream(layer, ring)) {
          if (at + c.length > out.length) throw new RolldeltaError(ErrorCode.CORRUPT, `the old image's layers hold more than the ${out.length} bytes their entries list; the archive changed while being read`);
          throwIfAborted(signal);
          out.set(c, at);
          at += c.length;
          indexer.landed(at);
        }
      }
      indexed = await indexer.finish();
    } catch (e) {
      await indexer.fail();
      throw e;
    }
  } else {
    const parts: Uint8Array[] = [];
    const lengths: number[] = [];
    for (const layer of image.layers) {
      let n = 0;
      for await (const c of archive.layerStream(layer)) {
        throwIfAborted(signal);
        parts.push(c);
        n += c.length;
      }
      lengths.push(n);
    }
    const ends = layerEnds(lengths);
    indexed = await buildDiffIndex(Buffer.concat(parts, ends.at(-1) ?? 0), { workers: threads, hashRanges: ends });
  }
  image.layers.forEach((layer, i) => checkLayerDigest(path, layer, indexed.rangeSha256![i]));
  return indexed;
}

/** Where each layer ends in the layers laid end to end. */
function layerEnds(sizes: readonly number[]): number[] {
  let at = 0;
  return sizes.map((n) => (at += n));
}

/**
 * The delta between two image archives, comparing content across all layers: new layers whose
 * DiffID the old image has are referenced; every other new layer is diffed against the whole old
 * image (all its layers concatenated), so files that moved between layers, a rebuilt base or a
 * squashed image cost little. The delta goes to `out`: a path (written atomically) or a consumer
 * of its chunks (a response body, standard output). Memory: the old image's layers uncompressed
 * plus the diff index (at most as much again); the new layers are streamed.
 * Every layer read (the old image's, and the new ones diffed) must hash to its DiffID: a damaged
 * archive is ERR_CHECKSUM naming it and the layer, and no delta is finished.
 * @example
 * const s = await diffImages('app-v1.tar', 'app-v2.tar', 'v1-v2.rdimg', { measurePull: true });
 * console.log(`${s.deltaBytes} bytes instead of ${s.pullBytes}`);
 * await diffImages('app-v1.tar', 'app-v2.tar', (chunks) => pipeline(Readable.from(chunks), res));
 */
export function diffImages(oldPath: string, newPath: string, out: ImageDiffOutput, opts: ImageDiffOptions & { measurePull: true }): Promise<ImageDiffSummary & { pullBytes: number; ratio: number }>;
export function diffImages(oldPath: string, newPath: string, out: ImageDiffOutput, opts?: ImageDiffOptions): Promise<ImageDiffSummary>;
export async function diffImages(oldPath: string, newPath: string, out: ImageDiffOutput, opts: ImageDiffOptions = {}): Promise<ImageDiffSummary> {
  const oldArchive = await ImageArchive.open(oldPath);
  try {
    const newArchive = await ImageArchive.open(newPath);
    try {
      const threads = resolveWorkerCount(opts.workers);
      const oldImage = oldArchive.image(opts.image?.old ?? opts.oldImage);
      const newImage = newArchive.image(opts.image?.new ?? opts.newImage);
      // What a pull would move is measured, if asked (gzip in the thread pool), while the old image is indexed.
      const measured = measureLayers(newArchive, newImage, new Set(oldImage.layers.map((l) => l.diffId)), opts.measurePull === true);
      measured.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
      let indexed: IndexedBasis | undefined = opts.basisCache?.get(oldImage.id);
      if (!indexed) {
        indexed = await indexOldLayers(oldArchive, oldImage, { path: oldPath, threads, signal: opts.signal });
        opts.basisCache?.set(oldImage.id, indexed);
      }
      const { layers, pullBytes } = await measured;
      const { index } = indexed;
      const header = encodeImageDeltaHeader({
        old: { id: oldImage.id, diffIds: oldImage.layers.map((l) => l.diffId) },
        new: { id: newImage.id, config: packImageConfig(newImage.config, oldImage.config), repoTags: newImage.repoTags, layers },
        pullBytes,
      });
      const total = layers.reduce((n, l) => n + (l.from === 'delta' ? l.size : 0), 0);
      const progress = { bytesIn: 0, bytesOut: header.length, total };
      let reported = 0;
      const level = opts.level ?? 9;
      // Level 9 frames are context-mixed by worker threads, several at once (see WorkerFramePacker).
      const packer = threads > 1 && level >= CM_LEVEL ? new WorkerFramePacker(threads, { signal: opts.signal, keepEventLoopFree: opts.keepEventLoopFree }) : undefined;
      const packFrameAsync = packer?.pack;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        yield header;
        const out = new ChunkBuffer();
        const d = new DiffDelta(index, out.push, { level, sha256: nodeSha256, rawDeflate: nodeRawDeflate, background: true, packFrameAsync, basisSha256: false });
        const ring = new ReadRing(ImageArchive.READ_BYTES);
        for (let i = 0; i < layers.length; i++) {
          // A layer from the old image is named by its DiffID only: none of this archive's bytes
          // for it go into the delta, and the device checks its own copy against the DiffID as it
          // writes it (or its engine did when it loaded the old image).
          if (layers[i].from === 'old') continue;
          // A damaged layer fails here, before d.finish: no delta is finished (a file output is
          // left untouched) rather than one that fails on every device.
          const check = new LayerCheck(newPath, newImage.layers[i]);
          // d.push copies what it keeps: the reads may cycle through reused buffers.
          for await (const c of newArchive.layerStream(newImage.layers[i], ring)) {
            throwIfAborted(opts.signal);
            check.update(c);
            d.push(c);
            progress.bytesIn += c.length;
            await d.settled(MAX_PACKING); // frames are packed in the thread pool or the workers
            for (const o of out.take()) {
              progress.bytesOut += o.length;
              yield o;
            }
            if (opts.onProgress && progress.bytesIn - reported >= 1 << 20) {
              reported = progress.bytesIn;
              opts.onProgress({ ...progress });
            }
          }
          check.end();
        }
        d.finish();
        await d.settled();
        for (const o of out.take()) {
          progress.bytesOut += o.length;
          yield o;
        }
        opts.onProgress?.({ ...progress });
      }
      await (typeof out === 'string' ? writeFileAtomic(out, chunks()) : out(chunks())).finally(() => packer?.close());
      const deltaBytes = progress.bytesOut;
      const sent = layers.filter((l) => l.from === 'delta').length;
      const ratio = pullBytes === undefined ? undefined : deltaBytes > 0 ? pullBytes / deltaBytes : 0;
      return { deltaBytes, pullBytes, newLayers: sent, reusedLayers: layers.length - sent, sentLayers: sent, ratio };
    } finally {
      await newArchive.close();
    }
  } finally {
    await oldArchive.close();
  }
}
