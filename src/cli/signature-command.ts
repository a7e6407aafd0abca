import type { StrongHashName } from '../core/params.js';
import { MAX_BLOCK_LENGTH } from '../core/block-size.js';
import { STRONG_MAX_LENGTH } from '../core/strong-hash.js';
import { defaultHashFor, type WireFormat } from '../format/operations-options.js';
import { signatureChunks, signatureFileChunks, type SignatureStreamOptions } from '../stream/signature-stream.js';
import { expectPositionals, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, openInput, stdinFileSize, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';
import type { StopSignals } from './stop-signals.js';
import { UsageError } from './usage-error.js';

export const spec: Record<string, OptionSpec> = {
  ...fileCommandOptions,
  format: { kind: 'string', choices: ['native', 'rdiff'] },
  'block-size': { kind: 'integer', short: 'b', min: 1, max: MAX_BLOCK_LENGTH },
  'sum-size': { kind: 'integer', short: 'S' }, // its range depends on --hash: see sumSize
  hash: { kind: 'string', short: 'H', choices: ['blake2', 'md4', 'sha256'] },
  rollsum: { kind: 'string', short: 'R', choices: ['rabinkarp', 'rollsum'] },
  workers: { kind: 'string' },
};

function hashName(v: unknown): StrongHashName | undefined {
  return v === undefined ? undefined : v === 'blake2' ? 'blake2b' : (v as StrongHashName);
}

/** `--sum-size`: -1 (the safe minimum) or 1 up to what the hash gives; undefined when not given. */
function sumSize(v: unknown, hash: StrongHashName): number | undefined {
  if (v === undefined || v === -1) return v;
  const max = STRONG_MAX_LENGTH[hash];
  if (typeof v !== 'number' || v < 1 || v > max) {
    throw new UsageError(`--sum-size takes -1 or a whole number from 1 to ${max} with --hash ${hash === 'blake2b' ? 'blake2' : hash}, got ${String(v)}`);
  }
  return v;
}

/** `rolldelta signature BASIS SIG` */
export async function run(args: ParsedArgs, stops: StopSignals): Promise<void> {
  const [basis, sig] = expectPositionals(args, ['BASIS', 'SIG'], 'signature');
  const v = args.values;
  const format = (v.format as WireFormat | undefined) ?? 'native';
  const hash = hashName(v.hash) ?? defaultHashFor(format);
  if (format === 'rdiff' && hash === 'sha256') throw new UsageError('--hash sha256 is not in the rdiff format: use --hash blake2 (its default) or md4');
  const strongLength = sumSize(v['sum-size'], hash);
  const bar = progressBar(v.progress === true, 'signature');
  const size = await inputSize(basis);
  const opts: SignatureStreamOptions = {
    size: basis === '-' ? stdinFileSize() : size,
    format,
    blockLength: v['block-size'] as number | undefined,
    strongLength,
    hash,
    rollsum: v.rollsum as 'rabinkarp' | 'rollsum' | undefined,
    workers: workerCount(v.workers),
    onProgress: bar.onProgress,
    signal: stops.signal,
  };
  // A file is split into ranges the workers read themselves; stdin is piped to them in pieces.
  const chunks = size === undefined ? signatureChunks(openInput(basis), opts) : signatureFileChunks(basis, { ...opts, size });
  const written = await writeOutput(sig, chunks);
  bar.done();
  if (v.progress) say(`signature: ${formatBytes(written)}`);
}
