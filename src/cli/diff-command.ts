import type { DiffIndex } from '../core/diff-index.js';
import { indexFile } from '../stream/diff-index-build.js';
import { diffChunks } from '../stream/diff-stream.js';
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
  if (basisPath !== '-') {
    // Indexed while it is read (on --workers threads), and hashed on the way.
    const indexed = await indexFile(basisPath, { workers });
    basis = indexed.index;
    basisSha256 = indexed.sha256;
  } else {
    basis = await readInput(basisPath);
  }
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
      onProgress: bar.onProgress,
    }),
  );
  bar.done();
  if (v.progress) say(`delta: ${formatBytes(written)} for ${formatBytes(size ?? 0)} of target`);
}
