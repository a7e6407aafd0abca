// The worker thread's entry (built to dist/worker.js): runs the tasks WorkerPool sends, one at a time.
import { parentPort } from 'node:worker_threads';
import { DiffIndex } from '../core/diff-index.js';
import { isRolldeltaError } from '../core/errors.js';
import { signatureBytesSums, signatureRangeSums } from './_signature-task.js';
import type { BlockSums, WorkerReply, WorkerRequest, WorkerTask } from './_worker-protocol.js';

async function runTask(task: WorkerTask): Promise<BlockSums | null> {
  if (task.kind === 'signature-bytes') return signatureBytesSums(task.params, task.bytes);
  if (task.kind === 'signature-range') return signatureRangeSums(task.params, task.path, task.start, task.end);
  DiffIndex.create(task.basis, task.options, task.table).fillPart(task.part, task.parts);
  return null;
}

const port = parentPort;
if (port) {
  port.on('message', (req: WorkerRequest) => {
    runTask(req.task).then(
      (result) => {
        const reply: WorkerReply = { id: req.id, result };
        port.postMessage(reply, result ? [result.weak.buffer as ArrayBuffer, result.strong.buffer as ArrayBuffer] : []);
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
