import type { StrongHashName } from '../core/params.js';
import type { WireFormat } from '../format/operations-options.js';
import { signatureChunks, signatureFileChunks, type SignatureStreamOptions } from '../stream/signature-stream.js';
import { expectPositionals, workerCount, type OptionSpec, type ParsedArgs } from './args.js';
import { fileCommandOptions, say } from './file-command-options.js';
import { inputSize, openInput, writeOutput } from './io.js';
import { formatBytes, progressBar } from './progress-bar.js';

export const spec: Record<string, OptionSpec> = {
  ...fileCommandOptions,
  format: { kind: 'string', choices: ['native', 'rdiff'] },
  'block-size': { kind: 'integer', short: 'b' },
  'sum-size': { kind: 'integer', short: 'S' },
  hash: { kind: 'string', short: 'H', choices: ['blake2', 'md4', 'sha256'] },
  rollsum: { kind: 'string', short: 'R', choices: ['rabinkarp', 'rollsum'] },
  workers: { kind: 'string' },
};

function hashName(v: unknown): StrongHashName | undefined {
  return v === undefined ? undefined : v === 'blake2' ? 'blake2b' : (v as StrongHashName);
}

/** `rolldelta signature BASIS SIG` */
export async function run(args: ParsedArgs): Promise<void> {
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
