import type { WireFormat } from '../format/operations-options.js';
import { deltaChunks } from '../stream/delta-stream.js';
import { expectPositionals, levelOption, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, namingInput, openInput, readInput, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';
import type { StopSignals } from './stop-signals.js';
import { UsageError } from './usage-error.js';

export const spec: Record<string, OptionSpec> = {
  ...fileCommandOptions,
  format: { kind: 'string', choices: ['native', 'rdiff'] },
  level: levelOption,
};

/** `rolldelta delta SIG NEW DELTA` */
export async function run(args: ParsedArgs, stops: StopSignals): Promise<void> {
  const [sigPath, target, out] = expectPositionals(args, ['SIG', 'NEW', 'DELTA'], 'delta');
  if (sigPath === '-' && target === '-') throw new UsageError('only one of SIG and NEW can be standard input');
  const v = args.values;
  const sig = await readInput(sigPath);
  const size = await inputSize(target);
  const bar = progressBar(v.progress === true, 'delta');
  const written = await writeOutput(
    out,
    deltaChunks(sig, openInput(target), { size, format: (v.format as WireFormat | undefined) ?? 'native', level: v.level as number | undefined, onProgress: bar.onProgress, signal: stops.signal }),
  ).catch((e: unknown) => {
    // The target is read as plain bytes: a decoder's failure is the signature's (cut short, a delta given for it).
    throw namingInput(e, sigPath);
  });
  bar.done();
  if (v.progress) say(`delta: ${formatBytes(written)} for ${formatBytes(size ?? 0)} of target`);
}
