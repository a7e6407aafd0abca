import type { Duplex } from 'node:stream';
import { bytesBasis, type RandomAccessBasis } from '../core/basis.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { DeltaHeader } from '../format/delta-header.js';
import { checkBasis, checkTarget } from '../format/delta-checks.js';
import { AnyDeltaDecoder } from '../format/delta-decoder.js';
import { pushFrameByFrame } from '../format/native-delta-decoder.js';
import { OpQueue } from '../format/op-queue.js';
import type { PatchOptions } from '../format/operations-options.js';
import { throwIfAborted } from './abort.js';
import { byteChunks, type ByteSource } from './chunks.js';
import { toDuplex } from './duplex.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import type { ChunkRing } from './chunk-ring.js';
import { OutputStager, STAGE_BYTES } from './_output-stager.js';
import { ProgressMeter, type StreamOptions } from './progress.js';
import { resolveWorkerCount, type WorkerCount } from './worker-count.js';
import { unpackFramesAhead } from './_frames-ahead.js';

export type PatchStreamOptions = PatchOptions &
  StreamOptions & {
    /**
     * Worker threads unpacking a level 9 delta's context-mixed frames ahead of the patch (default
     * 1: none, the patch unpacks them itself; 'auto': one per core). Context mixing is nearly all
     * of such a patch's time, and frames unpack independently: on 2 cores a delta of several
     * frames patches in ~0.6x the time. Each thread costs its own model's tables and a Node
     * isolate (30-35 MiB RSS). Deltas of other levels, and of one frame, patch as without.
     */
    workers?: WorkerCount;
  };

/** Largest single basis read: bounds patch memory whatever a COPY's length. */
const READ_CHUNK = 1 << 20;
/** Delta bytes decoded between drains of the op queue (at most one frame's ops at a time). */
const FEED_BYTES = 64 << 10;

/**
 * Applies a delta (either format, detected) to a random-access basis, streamed: delta chunks in,
 * target chunks out, pulled at the reader's pace. A wrong basis is refused before the first output
 * byte; the target's length and SHA-256 are checked at the end (native format), so a consumer that
 * writes to a temporary file and renames on success never keeps a bad result.
 * Output comes in chunks of 1 MiB (the last one shorter), each with all its basis reads in flight at
 * once, while the chunk before it goes out. Memory: one decoded frame plus the chunk being filled
 * and the one being read, whatever the sizes.
 * `reuseChunks` (for writers that finish with a chunk before asking for the second one after it,
 * as writeFileAtomic does) cycles three chunk buffers instead of allocating one per MiB; a number
 * n >= 3 cycles n, for a writer done with a chunk before it asks for the (n-1)th after it; a
 * {@link ChunkRing} of 1 MiB buffers (count >= 3) takes them from that ring, which streams written
 * before this one used (no stream may take from it until this one has ended).
 * @example
 * const basis = await FileBasis.open('old.bin');
 * for await (const c of patchChunks(basis, createReadStream('d.rdelta'))) out.write(c);
 */
export async function* patchChunks(
  basis: Uint8Array | RandomAccessBasis,
  source: ByteSource,
  opts: PatchStreamOptions = {},
  reuseChunks: boolean | number | ChunkRing = false,
): AsyncGenerator<Uint8Array> {
  const ring = reuseChunks === true ? 3 : reuseChunks === false ? 0 : reuseChunks;
  const isRing = typeof ring === 'object' && ring !== null;
  if (isRing ? ring.size !== STAGE_BYTES || !(ring.count >= 3) : ring !== 0 && (!Number.isInteger(ring) || ring < 3)) {
    const got = isRing ? `a ring of ${String(ring.count)} buffers of ${String(ring.size)} bytes` : String(reuseChunks);
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `reuseChunks must be a boolean, an integer >= 3 or a ring of at least 3 buffers of ${STAGE_BYTES} bytes, got ${got}`);
  }
  const base = basis instanceof Uint8Array ? bytesBasis(basis) : basis;
  const sha = opts.sha256 ?? nodeSha256;
  const queue = new OpQueue();
  let header: DeltaHeader | undefined;
  let basisChecked = false;
  // Frame by frame: the queue then holds one frame's ops and bytes, however many frames a slice packs.
  const decoder = new AnyDeltaDecoder(queue, { limits: opts.limits, onheader: (h) => (header = h), rawDeflate: opts.rawDeflate ?? nodeRawDeflate, frameByFrame: true, beforeJavaScriptWork: opts.beforeJavaScriptWork });
  const target = opts.verifyTarget === false ? undefined : sha();
  const meter = new ProgressMeter(opts);
  const stager = new OutputStager(base, ring);
  const threads = resolveWorkerCount(opts.workers);

  async function* emitQueued(): AsyncGenerator<Uint8Array> {
    if (header && !basisChecked) {
      basisChecked = true;
      const wantHash = header.basisSha256 !== undefined && (opts.verifyBasis ?? true) === true;
      checkBasis(header, base.length, wantHash ? await hashBasis(base, sha) : undefined);
    }
    for (const op of queue.drain()) {
      throwIfAborted(opts.signal); // one COPY can expand to gigabytes: checked per op and per chunk
      if (stager.add(op)) continue;
      for await (const chunk of stager.push(op)) {
        throwIfAborted(opts.signal);
        yield chunk;
      }
    }
  }

  async function* verified(chunks: AsyncGenerator<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const c of chunks) {
      target?.update(c);
      meter.output(c.length);
      yield c;
    }
  }

  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of byteChunks(source, opts.signal)) {
      meter.input(chunk.length);
      yield chunk;
    }
  }

  const delta = threads > 1 ? unpackFramesAhead(counted(), { threads, limits: opts.limits, rawDeflate: opts.rawDeflate ?? nodeRawDeflate, signal: opts.signal, beforeJavaScriptWork: opts.beforeJavaScriptWork }) : counted();
  for await (const chunk of delta) {
    // In slices: a 1 MiB read of a well-packed delta holds a dozen frames, whose ops would all be
    // queued (their bytes copied) before the first is written.
    for (let o = 0; o < chunk.length; o += FEED_BYTES) {
      for (const _ of pushFrameByFrame(decoder, chunk.subarray(o, o + FEED_BYTES))) yield* verified(emitQueued());
    }
  }
  for (const _ of pushFrameByFrame(decoder, new Uint8Array(0), true)) yield* verified(emitQueued());
  yield* verified(stager.finish());
  if (decoder.trailer) {
    try {
      checkTarget(decoder.trailer, meter.bytesOut, target?.digest());
    } catch (e) {
      // The basis was not hashed up front: a wrong one is the likelier cause, so say so if it is.
      if (opts.verifyBasis === 'on-failure' && header?.basisSha256) checkBasis(header, base.length, await hashBasis(base, sha));
      throw e;
    }
  }
  meter.report();
}

async function hashBasis(basis: RandomAccessBasis, sha: () => { update(d: Uint8Array): unknown; digest(): Uint8Array }): Promise<Uint8Array> {
  const h = sha();
  // One buffer for the whole pass where the basis can fill it: a fresh 1 MiB per read left ~35 MiB
  // of garbage before a collection (a 512 MiB file basis peaked at 94 MiB RSS against 61).
  const buf = basis.readInto ? new Uint8Array(Math.min(READ_CHUNK, basis.length)) : undefined;
  for (let pos = 0; pos < basis.length; pos += READ_CHUNK) {
    const n = Math.min(READ_CHUNK, basis.length - pos);
    if (buf) {
      await basis.readInto!(buf, 0, pos, n);
      h.update(buf.subarray(0, n));
    } else h.update(await basis.read(pos, n));
  }
  return h.digest();
}

/**
 * A Duplex: write the delta in, read the target out.
 * @example
 * await pipeline(createReadStream('d.rdelta'), createPatchStream(await FileBasis.open('old.bin')), createWriteStream('new.bin'));
 */
export function createPatchStream(basis: Uint8Array | RandomAccessBasis, opts: PatchStreamOptions = {}): Duplex {
  return toDuplex((src) => patchChunks(basis, src, opts), opts.signal);
}
