import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { throwIfAborted } from '../stream/abort.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { FileBasis } from '../stream/file-basis.js';
import { namingFile } from '../stream/io-error.js';
import { patchChunks } from '../stream/patch-stream.js';
import type { WorkerCount } from '../stream/worker-count.js';
import { ProgressMeter, type Progress } from '../stream/progress.js';
import { reusedFileChunks } from '../stream/reused-chunks.js';
import type { DecodeLimits } from '../format/limits.js';
import type { PatchOptions } from '../format/operations-options.js';
import { ImageArchive } from './archive-reader.js';
import { dockerArchiveChunks, type OutputImage } from './docker-archive-writer.js';
import { readImageDeltaHeader, readImageDeltaHeaderFrom, unpackImageConfig, type ImageDeltaHeader, type ImageDeltaLayer } from './image-delta-format.js';
import { layeredBasis } from './layered-basis.js';
import { checkRingSize, ReadRing } from './read-ring.js';

export interface ImageApplyOptions {
  /**
   * Layers to leave out of the output because the engine loading it has them: their DiffIDs, or
   * `'old'` for every layer taken from the old image. A left-out layer that the delta rebuilds is
   * still rebuilt (the target is one stream), but neither written nor hashed. Docker's classic
   * image store loads such an archive; its containerd image store needs every layer in it (see
   * DockerEngine.storesImagesInContainerd).
   */
  omitLayers?: string[] | 'old';
  /** Same as `omitLayers: 'old'` (kept for existing callers). */
  omitOldLayers?: boolean;
  /** Caps on the embedded delta's frames and lengths (docs/LIMITS.md); safe defaults. */
  limits?: Partial<DecodeLimits>;
  /** Called before the patch does per-byte work in JavaScript, with its kind and bytes (see PatchOptions). */
  beforeJavaScriptWork?: PatchOptions['beforeJavaScriptWork'];
  /** Called about every MiB of the archive produced and at its end, with its bytes so far (in and out alike). */
  onProgress?: (p: Progress) => void;
  /**
   * For a consumer callback that is done with each chunk before it asks for the next one (as
   * `DockerEngine.loadImage` is): chunks then cycle through reused buffers instead of a fresh one
   * per MiB, which pile up as garbage between collections. Always on for a file output.
   */
  reuseChunks?: boolean;
  /**
   * The ring of 1 MiB buffers that reused chunks come from (a file output, or `reuseChunks`),
   * instead of one of its own: to share its memory with work done before the apply, such as the
   * docker save of the old image (`saveImagesToFile`'s `ring`), never during it.
   */
  ring?: ReadRing;
  /**
   * The tags the archive gives the new image instead of those the delta lists (`[]`: none): a
   * device that asked for one image names it, so a delta cannot move other tags to its image.
   */
  repoTags?: string[];
  /** Stops the apply at its next chunk (ERR_ABORTED); a file output is then left untouched. */
  signal?: AbortSignal;
  /**
   * Worker threads unpacking a level 9 delta's context-mixed frames ahead of the patch (see
   * PatchStreamOptions.workers; default 1: none).
   */
  workers?: WorkerCount;
  /**
   * Where gzip and zstd old layers are decompressed for the apply (their uncompressed size, removed after):
   * default beside a file output, else the OS temp folder, which is RAM where /tmp is a tmpfs.
   */
  scratchDir?: string;
}

/** Hands out consecutive byte ranges of one stream: the patched target is cut into layers. */
class StreamCutter {
  private rest: Uint8Array | undefined;
  /** Bytes handed out or skipped so far. */
  position = 0;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  async *take(n: number): AsyncGenerator<Uint8Array> {
    while (n > 0) {
      let c = this.rest;
      this.rest = undefined;
      if (!c) {
        const r = await this.it.next();
        if (r.done) throw new RolldeltaError(ErrorCode.CORRUPT, 'the image delta produced fewer layer bytes than its header lists');
        c = r.value;
      }
      if (c.length > n) {
        this.rest = c.subarray(n);
        c = c.subarray(0, n);
      }
      n -= c.length;
      this.position += c.length;
      yield c;
    }
  }

  /** Drops bytes up to `position` (layers left out of the output still pass through the checks). */
  async skipTo(position: number): Promise<void> {
    for await (const _ of this.take(position - this.position));
  }

  /** Runs the stream to its end (where patch verifies the target), past layers left out, and refuses leftovers. */
  async end(total: number): Promise<void> {
    await this.skipTo(total);
    if (this.rest?.length) throw new RolldeltaError(ErrorCode.CORRUPT, 'the image delta produced more layer bytes than its header lists');
    for (let r = await this.it.next(); !r.done; r = await this.it.next()) {
      if (r.value.length) throw new RolldeltaError(ErrorCode.CORRUPT, 'the image delta produced more layer bytes than its header lists');
    }
  }
}

/**
 * Rebuilds the new image from the old image's archive and an image delta (a file path, or a byte
 * stream such as a download), as a `docker save` archive written to `out` (a path, written
 * atomically) or handed to a consumer (for instance `docker load`'s request body, so no copy of the
 * new image lands on disk). The old image must be the one the delta names (ERR_BASIS_MISMATCH
 * before anything is written); every layer is checked against its DiffID and the config against
 * the image ID while streaming, and the delta's own target length before the archive's manifest
 * goes out (the layers' digests cover the target: it is not hashed a second time).
 * Memory: one decoded frame and one 1 MiB read; uncompressed old layers are read in place, gzip
 * and zstd ones from a scratch copy decompressed once into a folder beside `out` (`scratchDir`, or
 * the system temp folder for a consumer); disk: their uncompressed size, removed afterwards.
 * @example
 * await applyImageDelta('app-v1.tar', 'v1-v2.rdimg', 'app-v2.tar');
 * await applyImageDelta('app-v1.tar', download, (chunks) => engine.loadImage(chunks), { omitLayers: 'old' });
 */
export async function applyImageDelta(
  oldPath: string,
  delta: string | AsyncIterable<Uint8Array>,
  out: string | ((chunks: AsyncIterable<Uint8Array>) => Promise<unknown>),
  opts: ImageApplyOptions = {},
): Promise<{ imageId: string }> {
  checkRingSize(opts.ring, ImageArchive.READ_BYTES, 'ring');
  const { header, rest, close } = typeof delta === 'string' ? await openDeltaFile(delta) : await readImageDeltaHeaderFrom(delta);
  const archive = await ImageArchive.open(oldPath).catch(async (e: unknown) => {
    await close().catch(() => {});
    throw e;
  });
  let scratch: string | undefined;
  const opened: FileBasis[] = [];
  let target: AsyncGenerator<Uint8Array> | undefined;
  try {
    const old = archive.images.find((i) => i.id === header.old.id);
    if (!old || old.layers.map((l) => l.diffId).join() !== header.old.diffIds.join()) {
      throw new RolldeltaError(
        ErrorCode.BASIS_MISMATCH,
        `this delta was made against image ${header.old.id}, but ${oldPath} holds ${archive.images.map((i) => i.id).join(', ')}; apply it to the image it was made from`,
      );
    }
    const config = unpackImageConfig(header, old.config);
    const byDiffId = new Map(old.layers.map((l) => [l.diffId, l]));
    for (const l of header.new.layers) {
      if (l.from === 'old' && !byDiffId.has(l.diffId)) throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `the delta expects layer ${l.diffId} in the old image, which lacks it`);
    }
    // Compressed old layers (newer engines save them as pulled: gzip or zstd) are decompressed
    // once into a scratch directory beside the output, and read from there at random.
    const parts: RandomAccessBasis[] = [];
    for (const l of old.layers) {
      const inPlace = archive.layerBasis(l);
      if (inPlace) {
        parts.push(inPlace);
        continue;
      }
      scratch ??= await mkdtemp(join(opts.scratchDir ?? (typeof out === 'string' ? dirname(out) : tmpdir()), '.rolldelta-layers-'));
      const path = join(scratch, `${parts.length}.tar`);
      await writeFileAtomic(path, archive.layerStream(l));
      const file = await FileBasis.open(path, 'the decompressed copy of a layer');
      opened.push(file);
      parts.push(file);
    }
    if (opts.omitLayers !== undefined && opts.omitLayers !== 'old' && !Array.isArray(opts.omitLayers)) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `omitLayers must be 'old' or a list of DiffIDs, got ${typeof opts.omitLayers}`);
    }
    const omit = opts.omitLayers === 'old' || opts.omitOldLayers ? 'old' : new Set(opts.omitLayers ?? []);
    const omitted = (l: ImageDeltaLayer): boolean => (omit === 'old' ? l.from === 'old' : omit.has(l.diffId));
    // Into a file (or a consumer that says it lets go of each chunk), chunks cycle through four
    // reused buffers: the file's writer is done with 1 MiB before it asks for the second one after
    // it, and the archive writer holds one chunk back until it has the next (the layer's last one
    // waits for the digest). A rebuilt layer left out would be skipped unwritten: then the
    // target's chunks are fresh.
    const toFile = typeof out === 'string';
    const reuse = toFile || opts.reuseChunks === true;
    const skipsTarget = header.new.layers.some((l) => l.from === 'delta' && omitted(l));
    // Neither the basis nor the whole target is hashed: every layer written is checked against its
    // DiffID (old ones too), which covers both; a rebuilt layer left out is not written at all.
    const patchOpts = { verifyBasis: false, verifyTarget: false, limits: opts.limits, beforeJavaScriptWork: opts.beforeJavaScriptWork, signal: opts.signal, workers: opts.workers };
    // Old layers go out one after another: one ring of read buffers serves them all. When they all
    // go out before the rebuilt layers (the usual: a base kept, the layers above it rebuilt), the
    // patch then takes its chunks from that ring too: the 1 GiB bench image's apply 68 → 64 MiB
    // peak RSS. Not when an old layer follows a rebuilt one: the patch reads ahead into chunks
    // the old layer would then refill.
    const oldRing = reuse ? (opts.ring ?? new ReadRing(ImageArchive.READ_BYTES)) : undefined;
    const written = header.new.layers.filter((l) => !omitted(l));
    const firstRebuilt = written.findIndex((l) => l.from === 'delta');
    const shareRing = firstRebuilt >= 0 && !written.slice(firstRebuilt).some((l) => l.from === 'old');
    const targetRing = reuse && !skipsTarget ? (shareRing && oldRing ? oldRing : 4) : false;
    target = patchChunks(layeredBasis(parts), rest, patchOpts, targetRing);
    const cutter = new StreamCutter(target[Symbol.asyncIterator]());
    let targetLength = 0; // where each rebuilt layer starts in the patched target; at the end, its length
    const layers: OutputImage['layers'] = header.new.layers.map((l) => {
      const at = targetLength;
      if (l.from === 'delta') targetLength += l.size;
      if (omitted(l)) return { diffId: l.diffId, size: l.size };
      if (l.from === 'delta') return { diffId: l.diffId, size: l.size, content: () => cutNext(cutter, at, l.size) };
      return { diffId: l.diffId, size: l.size, content: () => archive.layerStream(byDiffId.get(l.diffId)!, oldRing ?? false) };
    });
    // The target's own checks (length, frame count) run when its stream ends: end it right after the
    // last layer written, before the archive's manifest goes out.
    const last = layers.map((l) => l.content !== undefined).lastIndexOf(true);
    if (last >= 0) {
      const content = layers[last].content!;
      layers[last] = { ...layers[last], content: async function* () { yield* content(); await cutter.end(targetLength); } };
    }
    async function* archiveChunks(): AsyncGenerator<Uint8Array> {
      if (last < 0) await cutter.end(targetLength);
      const chunks = dockerArchiveChunks({ id: header.new.id, config, repoTags: opts.repoTags ?? header.new.repoTags, layers });
      yield* passed(chunks, opts);
    }
    if (toFile) await writeFileAtomic(out, archiveChunks());
    else await out(archiveChunks());
    return { imageId: header.new.id };
  } finally {
    // A consumer that stopped early (docker load refused the archive) leaves the patch suspended:
    // end it, which closes the delta file.
    await target?.return(undefined).catch(() => {});
    await close().catch(() => {});
    for (const f of opened) await f.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    await archive.close();
  }
}

/**
 * Passes an archive's chunks through, stopping when `signal` fires (old layers are copied as they
 * are, with no patch to check it) and reporting its bytes so far about every MiB.
 */
async function* passed(chunks: AsyncIterable<Uint8Array>, { signal, onProgress }: ImageApplyOptions): AsyncGenerator<Uint8Array> {
  const meter = onProgress ? new ProgressMeter({ onProgress }) : undefined;
  for await (const c of chunks) {
    throwIfAborted(signal);
    meter?.output(c.length);
    meter?.input(c.length); // after output: a report says both
    yield c;
  }
  meter?.report();
}

/** A rebuilt layer's bytes: first drops what omitted layers before it left in the stream. */
async function* cutNext(cutter: StreamCutter, at: number, size: number): AsyncGenerator<Uint8Array> {
  await cutter.skipTo(at);
  yield* cutter.take(size);
}

async function openDeltaFile(path: string): Promise<{ header: ImageDeltaHeader; rest: AsyncIterable<Uint8Array>; close(): Promise<void> }> {
  const file = await FileBasis.open(path, 'the image delta');
  try {
    const { header, deltaOffset } = await readImageDeltaHeader((p, n) => file.read(p, n), file.length).catch((e: unknown) => {
      throw namingFile(e, path);
    });
    // Opened only when read: a refused old image leaves no open file behind.
    async function* rest(): AsyncGenerator<Uint8Array> {
      yield* reusedFileChunks(path, deltaOffset);
    }
    return { header, rest: rest(), close: async () => {} };
  } finally {
    await file.close();
  }
}
