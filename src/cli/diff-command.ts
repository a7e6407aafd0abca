import { diffChunks, diffChunksAgainstFile, type DiffStreamOptions } from '../stream/diff-stream.js';
import { expectPositionals, levelOption, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, openInput, readInput, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';
import type { StopSignals } from './stop-signals.js';
import { UsageError } from './usage-error.js';

export const spec: Record<string, OptionSpec> = {
  ...fileCommandOptions,
  level: levelOption,
  'in-place': { kind: 'boolean' },
  'in-place-stash': { kind: 'integer', min: 0 },
  workers: { kind: 'string' },
};

/** `rolldelta diff BASIS NEW DELTA` */
export async function run(args: ParsedArgs, stops: StopSignals): Promise<void> {
  const [basisPath, target, out] = expectPositionals(args, ['BASIS', 'NEW', 'DELTA'], 'diff');
  if (basisPath === '-' && target === '-') throw new UsageError('only one of BASIS and NEW can be standard input');
  const v = args.values;
  if (v['in-place-stash'] !== undefined && v['in-place'] !== true) throw new UsageError('--in-place-stash is for diff --in-place only');
  const workers = workerCount(v.workers);
  const size = await inputSize(target);
  const bar = progressBar(v.progress === true, 'diff');
  const opts: DiffStreamOptions = {
    size,
    level: v.level as number | undefined,
    inPlace: v['in-place'] === true,
    inPlaceStash: v['in-place-stash'] as number | undefined,
    workers,
    onProgress: bar.onProgress,
    signal: stops.signal,
  };
  // A file basis is indexed while it is read (on --workers threads) and hashed on the way.
  const chunks = basisPath !== '-' ? diffChunksAgainstFile(basisPath, openInput(target), opts) : diffChunks(await readInput(basisPath), openInput(target), opts);
  const written = await writeOutput(out, chunks);
  bar.done();
  if (v.progress) say(`delta: ${formatBytes(written)} for ${formatBytes(size ?? 0)} of target`);
}
