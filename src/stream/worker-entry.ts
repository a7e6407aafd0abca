// The worker thread's entry (built to dist/worker.js): runs the tasks WorkerPool sends, one at a time.
import { parentPort } from 'node:worker_threads';
import { DiffIndex } from '../core/diff-index.js';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { packFrame } from '../format/_frame-packing.js';
import { nodeRawDeflate } from './node-raw-deflate.js';
import { signatureBytesSums, signatureRangeSums } from './_signature-task.js';
import type { BlockSums, DiffIndexPartTask, WorkerReply, WorkerRequest, WorkerTask } from './_worker-protocol.js';

/** A task's result, and the buffers to move (not copy) back with it. */
async function runTask(task: WorkerTask): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  if (task.kind === 'signature-bytes' || task.kind === 'signature-range') {
    const sums: BlockSums = task.kind === 'signature-bytes' ? signatureBytesSums(task.params, task.bytes) : await signatureRangeSums(task.params, task.path, task.start, task.end);
    return { result: sums, transfer: [sums.weak.buffer as ArrayBuffer, sums.strong.buffer as ArrayBuffer] };
  }
  if (task.kind === 'pack-frame') {
    const packed = packFrame(task.job, nodeRawDeflate);
    // The payload may be a view of the job's raw bytes (a stored frame): then it cannot move.
    return { result: packed, transfer: packed.payload.buffer === task.job.raw.buffer ? [] : [packed.payload.buffer as ArrayBuffer] };
  }
  fillAsRead(DiffIndex.create(task.basis, task.options, task.table), task);
  return { result: null, transfer: [] };
}

/** Indexes a basis that is still being filled in, as far as it has landed each time it grows. */
function fillAsRead(index: DiffIndex, task: DiffIndexPartTask): void {
  const progress = task.progress;
  let indexed = 0;
  for (;;) {
    const read = Atomics.load(progress, 0);
    if (read < 0) throw new RolldeltaError(ErrorCode.ABORTED, 'the basis being indexed could not be read');
    index.fillPart(task.part, task.parts, indexed, read);
    indexed = read;
    if (read === task.basis.length) return;
    Atomics.wait(progress, 0, read);
  }
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    runTask(req.task).then(
      ({ result, transfer }) => {
        const reply: WorkerReply = { id: req.id, result };
        port.postMessage(reply, transfer);
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
