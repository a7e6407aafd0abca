import type { StrongHashName } from '../core/params.js';
import type { WireFormat } from '../format/operations-options.js';
import { deltaChunks } from '../stream/delta-stream.js';
import type { DiffIndex } from '../core/diff-index.js';
import { indexFile } from '../stream/diff-index-build.js';
import { diffChunks } from '../stream/diff-stream.js';
import { FileBasis } from '../stream/file-basis.js';
import { patchFile } from '../stream/file-operations.js';
import { patchInPlace } from '../stream/patch-in-place.js';
import { patchChunks } from '../stream/patch-stream.js';
import { signatureChunks, signatureFileChunks, type SignatureStreamOptions } from '../stream/signature-stream.js';
import { expectPositionals, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { inputSize, openInput, readInput, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const common: Record<string, OptionSpec> = {
  progress: { kind: 'boolean' },
  help: { kind: 'boolean', short: 'h' },
};

export const signatureSpec: Record<string, OptionSpec> = {
  ...common,
  format: { kind: 'string', choices: ['native', 'rdiff'] },
  'block-size': { kind: 'integer', short: 'b' },
  'sum-size': { kind: 'integer', short: 'S' },
  hash: { kind: 'string', short: 'H', choices: ['blake2', 'md4', 'sha256'] },
  rollsum: { kind: 'string', short: 'R', choices: ['rabinkarp', 'rollsum'] },
  workers: { kind: 'string' },
};
export const deltaSpec: Record<string, OptionSpec> = {
  ...common,
  format: { kind: 'string', choices: ['native', 'rdiff'] },
  level: { kind: 'integer' },
};
export const diffSpec: Record<string, OptionSpec> = {
  ...common,
  level: { kind: 'integer' },
  'in-place': { kind: 'boolean' },
  'in-place-stash': { kind: 'integer' },
  workers: { kind: 'string' },
};
export const patchSpec: Record<string, OptionSpec> = { ...common, 'in-place': { kind: 'boolean' } };

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function hashName(v: unknown): StrongHashName | undefined {
  return v === undefined ? undefined : v === 'blake2' ? 'blake2b' : (v as StrongHashName);
}

/** `rolldelta signature BASIS SIG` */
export async function signatureCommand(args: ParsedArgs): Promise<void> {
  const [basis, sig] = expectPositionals(args, ['BASIS', 'SIG'], 'signature');
  const v = args.values;
  const bar = progressBar(v.progress === true, 'signature');
  const size = await inputSize(basis);
  const opts: SignatureStreamOptions = {
    size,
    format: (v.format as WireFormat | undefined) ?? 'native',
    blockLength: v['block-size'] as number | undefined,
    strongLength: v['sum-size'] as number | undefined,
    hash: hashName(v.hash),
    rollsum: v.rollsum as 'rabinkarp' | 'rollsum' | undefined,
    workers: workerCount(v.workers),
    onProgress: bar.onProgress,
  };
  // A file is split into ranges the workers read themselves; stdin is piped to them in pieces.
  const chunks = size === undefined ? signatureChunks(openInput(basis), opts) : signatureFileChunks(basis, { ...opts, size });
  const written = await writeOutput(sig, chunks);
  bar.done();
  if (v.progress) say(`signature: ${formatBytes(written)}`);
}

/** `rolldelta delta SIG NEW DELTA` */
export async function deltaCommand(args: ParsedArgs): Promise<void> {
  const [sigPath, target, out] = expectPositionals(args, ['SIG', 'NEW', 'DELTA'], 'delta');
  if (sigPath === '-' && target === '-') throw new UsageError('only one of SIG and NEW can be standard input');
  const v = args.values;
  const sig = await readInput(sigPath);
  const size = await inputSize(target);
  const bar = progressBar(v.progress === true, 'delta');
  const written = await writeOutput(
    out,
    deltaChunks(sig, openInput(target), { size, format: (v.format as WireFormat | undefined) ?? 'native', level: v.level as number | undefined, onProgress: bar.onProgress }),
  );
  bar.done();
  if (v.progress) say(`delta: ${formatBytes(written)} for ${formatBytes(size ?? 0)} of target`);
}

/** `rolldelta diff BASIS NEW DELTA` */
export async function diffCommand(args: ParsedArgs): Promise<void> {
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

/** `rolldelta patch BASIS DELTA OUT`, or `rolldelta patch --in-place BASIS DELTA` */
export async function patchCommand(args: ParsedArgs): Promise<void> {
  if (args.values['in-place'] === true) {
    const [file, deltaPath] = expectPositionals(args, ['BASIS', 'DELTA'], 'patch --in-place');
    if (file === '-' || deltaPath === '-') throw new UsageError('patch --in-place needs BASIS and DELTA as files');
    const r = await patchInPlace(file, deltaPath);
    if (args.values.progress) say(`patched in place${r.resumed ? ' (resumed)' : ''}: ${formatBytes(r.targetLength)}`);
    return;
  }
  const [basisPath, deltaPath, out] = expectPositionals(args, ['BASIS', 'DELTA', 'OUT'], 'patch');
  if (basisPath === '-') throw new UsageError('BASIS must be a file: patch reads it at random positions');
  const v = args.values;
  if (deltaPath !== '-' && out !== '-') {
    const bar = progressBar(v.progress === true, 'patch');
    const r = await patchFile(basisPath, deltaPath, out, { onProgress: bar.onProgress }).finally(() => bar.done());
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
    const written = await writeOutput(out, patchChunks(basis, openInput(deltaPath), { size, verifyBasis, onProgress: bar.onProgress }, out !== '-'));
    bar.done();
    if (v.progress) say(`patched: ${formatBytes(written)}`);
  } finally {
    await basis.close();
  }
}

