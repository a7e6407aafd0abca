import type { DiffIndex } from '../core/diff-index.js';
import { indexFileKeepingWorker } from '../stream/diff-index-build.js';
import { diffChunks } from '../stream/diff-stream.js';
import type { WorkerPool } from '../stream/worker-pool.js';
import { WorkerSha256 } from '../stream/worker-sha256.js';
import { expectPositionals, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, openInput, readInput, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';
import { UsageError } from './usage-error.js';

export const spec: Record<string, OptionSpec> = {
  ...fileCommandOptions,
  level: { kind: 'integer' },
  'in-place': { kind: 'boolean' },
  'in-place-stash': { kind: 'integer' },
  workers: { kind: 'string' },
};

/** `rolldelta diff BASIS NEW DELTA` */
export async function run(args: ParsedArgs): Promise<void> {
  const [basisPath, target, out] = expectPositionals(args, ['BASIS', 'NEW', 'DELTA'], 'diff');
  if (basisPath === '-' && target === '-') throw new UsageError('only one of BASIS and NEW can be standard input');
  const v = args.values;
  const workers = workerCount(v.workers);
  let basis: Uint8Array | DiffIndex;
  let basisSha256: Uint8Array | undefined;
  let worker: WorkerPool | undefined;
  if (basisPath !== '-') {
    // Indexed while it is read (on --workers threads), and hashed on the way; the index's worker
    // then hashes the target.
    const kept = await indexFileKeepingWorker(basisPath, { workers });
    basis = kept.indexed.index;
    basisSha256 = kept.indexed.sha256;
    worker = kept.worker;
  } else {
    basis = await readInput(basisPath);
  }
  try {
    const size = await inputSize(target);
    const bar = progressBar(v.progress === true, 'diff');
    const written = await writeOutput(
      out,
      diffChunks(basis, openInput(target), {
        size,
        level: v.level as number | undefined,
        inPlace: v['in-place'] === true,
        inPlaceStash: v['in-place-stash'] as number | undefined,
        workers,
        basisSha256,
        backgroundSha256: worker ? () => new WorkerSha256(worker) : undefined,
        onProgress: bar.onProgress,
      }),
    );
    bar.done();
    if (v.progress) say(`delta: ${formatBytes(written)} for ${formatBytes(size ?? 0)} of target`);
  } finally {
    await worker?.close();
  }
}
