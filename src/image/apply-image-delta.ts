import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { FileBasis } from '../stream/file-basis.js';
import { patchChunks } from '../stream/patch-stream.js';
import { ImageArchive } from './archive-reader.js';
import { dockerArchiveChunks, type OutputImage } from './docker-archive-writer.js';
import { readImageDeltaHeader } from './image-delta-format.js';
import { layeredBasis } from './layered-basis.js';

export interface ImageApplyOptions {
  /** Leave out the layers taken from the old image (the engine loading the result has them). */
  omitOldLayers?: boolean;
}

/** Hands out consecutive byte ranges of one stream: the patched target is cut into layers. */
class StreamCutter {
  private rest: Uint8Array | undefined;
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
      yield c;
    }
  }

  /** Runs the stream to its end (where patch verifies the target) and refuses leftovers. */
  async end(): Promise<void> {
    if (this.rest?.length) throw new RolldeltaError(ErrorCode.CORRUPT, 'the image delta produced more layer bytes than its header lists');
    for (let r = await this.it.next(); !r.done; r = await this.it.next()) {
      if (r.value.length) throw new RolldeltaError(ErrorCode.CORRUPT, 'the image delta produced more layer bytes than its header lists');
    }
  }
}

/**
 * Rebuilds the new image from the old image's archive and an image delta, as a `docker save`
 * archive written to `out` (a path, written atomically) or handed to a consumer (for instance
 * `docker load`'s request body, so no copy of the new image lands on disk). The old image must be
 * the one the delta names (ERR_BASIS_MISMATCH before anything is written); every layer is checked
 * against its DiffID and the config against the image ID while streaming.
 * Memory: one decoded frame and one 1 MiB read; uncompressed old layers are read in place,
 * gzip ones from a scratch copy decompressed once (disk: their uncompressed size, removed after).
 * @example
 * await applyImageDelta('app-v1.tar', 'v1-v2.rdimg', 'app-v2.tar');
 */
export async function applyImageDelta(
  oldPath: string,
  deltaPath: string,
  out: string | ((chunks: AsyncIterable<Uint8Array>) => Promise<unknown>),
  opts: ImageApplyOptions = {},
): Promise<{ imageId: string }> {
  const { header, deltaOffset } = await readHeaderOf(deltaPath);
  const archive = await ImageArchive.open(oldPath);
  let scratch: string | undefined;
  const opened: FileBasis[] = [];
  try {
    const old = archive.images.find((i) => i.id === header.old.id);
    if (!old || old.layers.map((l) => l.diffId).join() !== header.old.diffIds.join()) {
      throw new RolldeltaError(
        ErrorCode.BASIS_MISMATCH,
        `this delta was made against image ${header.old.id}, but ${oldPath} holds ${archive.images.map((i) => i.id).join(', ')}; apply it to the image it was made from`,
      );
    }
    // Compressed old layers (newer engines save them gzip) are decompressed once into a scratch
    // directory beside the output, and read from there at random.
    const parts: RandomAccessBasis[] = [];
    for (const l of old.layers) {
      const inPlace = archive.layerBasis(l);
      if (inPlace) {
        parts.push(inPlace);
        continue;
      }
      scratch ??= await mkdtemp(join(typeof out === 'string' ? dirname(out) : tmpdir(), '.rolldelta-layers-'));
      const path = join(scratch, `${parts.length}.tar`);
      await writeFileAtomic(path, archive.layerStream(l));
      const file = await FileBasis.open(path);
      opened.push(file);
      parts.push(file);
    }
    const byDiffId = new Map(old.layers.map((l) => [l.diffId, l]));
    const target = patchChunks(layeredBasis(parts), createReadStream(deltaPath, { start: deltaOffset, highWaterMark: 1 << 20 }), { verifyBasis: false });
    const cutter = new StreamCutter(target[Symbol.asyncIterator]());
    const layers: OutputImage['layers'] = header.new.layers.map((l) => {
      if (l.from === 'delta') return { diffId: l.diffId, size: l.size, content: () => cutter.take(l.size) };
      const src = byDiffId.get(l.diffId);
      if (!src) throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `the delta expects layer ${l.diffId} in the old image, which lacks it`);
      return { diffId: l.diffId, size: l.size, content: opts.omitOldLayers ? undefined : () => archive.layerStream(src) };
    });
    // The target's own checks (length, SHA-256) run when its stream ends: end it right after the
    // last rebuilt layer, before the archive's manifest goes out.
    const last = header.new.layers.map((l) => l.from).lastIndexOf('delta');
    if (last >= 0) {
      const take = layers[last].content!;
      layers[last] = { ...layers[last], content: async function* () { yield* take(); await cutter.end(); } };
    }
    async function* archiveChunks(): AsyncGenerator<Uint8Array> {
      if (last < 0) await cutter.end();
      yield* dockerArchiveChunks({ id: header.new.id, config: header.new.config, repoTags: header.new.repoTags, layers });
    }
    if (typeof out === 'string') await writeFileAtomic(out, archiveChunks());
    else await out(archiveChunks());
    return { imageId: header.new.id };
  } finally {
    for (const f of opened) await f.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    await archive.close();
  }
}

async function readHeaderOf(deltaPath: string): ReturnType<typeof readImageDeltaHeader> {
  const file = await FileBasis.open(deltaPath);
  try {
    return await readImageDeltaHeader((p, n) => file.read(p, n), file.length);
  } finally {
    await file.close();
  }
}
