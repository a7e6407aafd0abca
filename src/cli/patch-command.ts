import { FileBasis } from '../stream/file-basis.js';
import { patchFile } from '../stream/patch-file.js';
import { patchChunks } from '../stream/patch-stream.js';
import { expectPositionals, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, namingInput, openInput, stdinFileSize, writeOutput } from './io.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes, progressBar } from './progress-bar.js';
import type { StopSignals } from './stop-signals.js';
import { UsageError } from './usage-error.js';

export const spec: Record<string, OptionSpec> = { ...fileCommandOptions, 'in-place': { kind: 'boolean' }, workers: { kind: 'string' } };

/** `rolldelta patch BASIS DELTA OUT`, or `rolldelta patch --in-place BASIS DELTA` */
export async function run(args: ParsedArgs, stops: StopSignals): Promise<void> {
  // A delta cut short or damaged, or a signature given for one: say which file.
  await patch(args, stops).catch((e: unknown) => {
    throw namingInput(e, args.positionals[1]!);
  });
}

async function patch(args: ParsedArgs, stops: StopSignals): Promise<void> {
  if (args.values['in-place'] === true) {
    const [file, deltaPath] = expectPositionals(args, ['BASIS', 'DELTA'], 'patch --in-place');
    if (file === '-' || deltaPath === '-') throw new UsageError('patch --in-place needs BASIS and DELTA as files');
    if (args.values.workers !== undefined) throw new UsageError('patch --in-place plans and writes on one thread: leave out --workers');
    stops.dispose(); // journaled: a run killed at any point resumes where it stopped
    // Loaded only here: the planner and journal are most of the patch command's code.
    const { patchInPlace } = await import('../stream/patch-in-place.js');
    const r = await patchInPlace(file, deltaPath);
    if (r.alreadyTarget) say(`${file} already is the target of this delta (patched before): nothing to do`);
    else if (args.values.progress) say(`patched in place${r.resumed ? ' (resumed)' : ''}: ${formatBytes(r.targetLength)}`);
    return;
  }
  const [basisArg, deltaPath, out] = expectPositionals(args, ['BASIS', 'DELTA', 'OUT'], 'patch');
  const basisPath = basisArg === '-' ? stdinBasisPath(deltaPath) : basisArg;
  const v = args.values;
  const workers = workerCount(v.workers);
  if (deltaPath !== '-' && out !== '-') {
    const bar = progressBar(v.progress === true, 'patch');
    const r = await patchFile(basisPath, deltaPath, out, { workers, onProgress: bar.onProgress, beforeJavaScriptWork: resumeForJavaScriptWork, signal: stops.signal }).finally(() => bar.done());
    if (r.alreadyTarget) say(`${basisPath} already is the target of this delta (patched before): nothing to do`);
    else if (v.progress) say(`patched: ${formatBytes(r.bytesOut)}`);
    return;
  }
  const basis = await FileBasis.open(basisPath);
  const bar = progressBar(v.progress === true, 'patch');
  try {
    const size = await inputSize(deltaPath);
    // A file output appears only once verified: the basis hash is then needed only to explain a failure.
    const verifyBasis = out === '-' ? true : 'on-failure';
    const written = await writeOutput(out, patchChunks(basis, openInput(deltaPath), { size, verifyBasis, workers, onProgress: bar.onProgress, beforeJavaScriptWork: resumeForJavaScriptWork, signal: stops.signal }, out !== '-'));
    bar.done();
    if (v.progress) say(`patched: ${formatBytes(written)}`);
  } finally {
    await basis.close();
  }
}

/**
 * BASIS given as `-`: standard input redirected from a file (`< old.bin`), read at random positions
 * through /dev/stdin, as `rdiff patch - DELTA NEW < old.bin` reads it; a pipe cannot be.
 * @example
 * stdinBasisPath('update.delta'); // '/dev/stdin' under `rolldelta patch - update.delta new < old`
 */
function stdinBasisPath(deltaPath: string): string {
  if (stdinFileSize() === undefined) throw new UsageError('BASIS must be a file: patch reads it at random positions (standard input only when redirected from a file)');
  if (deltaPath === '-') throw new UsageError('only one of BASIS and DELTA can be standard input');
  return '/dev/stdin';
}
