// The worker thread's entry (built to dist/worker.mjs): runs the tasks WorkerPool sends, one at a time.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { DiffIndex } from '../core/diff-index.js';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { packFrame } from '../format/_frame-packing.js';
import { storedFrameOf } from '../format/_stored-frame.js';
import { decodeZstdBlock } from '../format/_zstd-block-decoder.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { nodeSha256 } from './node-sha256.js';
import { RangeSha256 } from './_range-sha256.js';
import { signatureBytesSums, signatureRangeSums } from './_signature-task.js';
import type { DiffIndexPartTask, Sha256Task, WorkerReply, WorkerRequest, WorkerTask } from './_worker-protocol.js';

/** The SHA-256 streams this worker is hashing, by their number (see Sha256Task). */
const hashes = new Map<number, Hash>();

/** A task's result, copied back to the main thread (see WorkerPool: nothing is transferred). */
async function runTask(task: WorkerTask): Promise<unknown> {
  if (task.kind === 'signature-bytes' || task.kind === 'signature-range') {
    return task.kind === 'signature-bytes' ? signatureBytesSums(task.params, task.bytes) : await signatureRangeSums(task.params, task.path, task.start, task.end);
  }
  if (task.kind === 'pack-frame') {
    const packed = packFrame(task.job, nodeRawDeflate);
    // A stored frame's payload is a view of the job's raw bytes: send only its own bytes.
    return packed.payload.buffer === task.job.raw.buffer ? { ...packed, payload: packed.payload.slice() } : packed;
  }
  if (task.kind === 'sha256') return hashStream(task);
  if (task.kind === 'zstd-block') return decodeZstdBlock(task.stream, task.bytes, task.first, task.last);
  if (task.kind === 'unpack-frame') return storedFrameOf(task.body, task.frameStart, task.at, nodeRawDeflate.crc32);
  return fillAsRead(DiffIndex.create(task.basis, task.options, task.table), task);
}

function hashStream(task: Sha256Task): Uint8Array | null {
  let h = hashes.get(task.stream);
  if (!h) hashes.set(task.stream, (h = createHash('sha256')));
  h.update(task.bytes);
  if (!task.final) return null;
  hashes.delete(task.stream);
  return new Uint8Array(h.digest());
}

/**
 * Indexes a basis that is still being filled in, as far as it has landed each time it grows, and
 * hashes its ranges if asked (their digests are the result).
 */
function fillAsRead(index: DiffIndex, task: DiffIndexPartTask): Uint8Array[] | null {
  const progress = task.progress;
  const ranges = task.hashEnds ? new RangeSha256(task.basis, task.hashEnds, nodeSha256) : undefined;
  let indexed = 0;
  for (;;) {
    const read = Atomics.load(progress, 0);
    if (read < 0) throw new RolldeltaError(ErrorCode.ABORTED, 'the basis being indexed could not be read');
    index.fillPart(task.part, task.parts, indexed, read);
    ranges?.upTo(read);
    indexed = read;
    if (read === task.basis.length) return ranges?.digests ?? null;
    Atomics.wait(progress, 0, read);
  }
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    runTask(req.task).then(
      (result) => {
        const reply: WorkerReply = { id: req.id, result };
        port.postMessage(reply);
      },
      (e: unknown) => {
        const error = isRolldeltaError(e)
          ? { code: (e as { code: string }).code, message: (e as Error).message }
          : { code: 'ERR_IO', message: `a worker task failed: ${String((e as Error)?.message ?? e)}` };
        const reply: WorkerReply = { id: req.id, error };
        port.postMessage(reply);
      },
    );
  });
}
