import { expectPositionals, parseArgs, workerCount, type OptionSpec } from './args.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes, progressBar } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const diffSpec: Record<string, OptionSpec> = {
  level: { kind: 'integer' },
  'old-image': { kind: 'string' },
  'new-image': { kind: 'string' },
  progress: { kind: 'boolean' },
  workers: { kind: 'string' },
  help: { kind: 'boolean', short: 'h' },
};
const applySpec: Record<string, OptionSpec> = { 'omit-old-layers': { kind: 'boolean' }, progress: { kind: 'boolean' }, help: { kind: 'boolean', short: 'h' } };

const USAGE =
  'usage: rolldelta image diff [--level N] [--old-image REF] [--new-image REF] [--workers N|auto] [--progress] OLD.tar NEW.tar DELTA\n' +
  '       rolldelta image apply [--omit-old-layers] [--progress] OLD.tar DELTA OUT.tar';

/**
 * `rolldelta image diff OLD.tar NEW.tar DELTA` (prints delta bytes, pull bytes, ratio) and
 * `rolldelta image apply OLD.tar DELTA OUT.tar [--omit-old-layers]`.
 * @example
 * await imageCommand(['diff', 'app-1.tar', 'app-2.tar', 'app-1-2.rdimg']);
 */
export async function imageCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'diff') {
    const args = parseArgs(rest, diffSpec);
    if (args.values.help) return void process.stdout.write(`${USAGE}\n`);
    const [oldPath, newPath, out] = expectPositionals(args, ['OLD.tar', 'NEW.tar', 'DELTA'], 'image diff');
    const bar = progressBar(args.values.progress === true, 'image diff');
    const { diffImages } = await import('../image/diff-images.js');
    const s = await diffImages(oldPath, newPath, out, {
      level: args.values.level as number | undefined,
      image: { old: args.values['old-image'] as string | undefined, new: args.values['new-image'] as string | undefined },
      workers: workerCount(args.values.workers),
      onProgress: bar.onProgress,
    }).finally(() => bar.done());
    process.stderr.write(
      `image delta: ${formatBytes(s.deltaBytes)} (${s.deltaBytes} bytes); a pull would move ${formatBytes(s.pullBytes)} (${s.pullBytes} bytes), ` +
        `${s.deltaBytes > 0 ? s.ratio.toFixed(1) : '-'}x more; ${s.newLayers} layer(s) rebuilt from the delta, ${s.reusedLayers} reused\n`,
    );
    return;
  }
  if (sub === 'apply') {
    const args = parseArgs(rest, applySpec);
    if (args.values.help) return void process.stdout.write(`${USAGE}\n`);
    const [oldPath, delta, out] = expectPositionals(args, ['OLD.tar', 'DELTA', 'OUT.tar'], 'image apply');
    const bar = progressBar(args.values.progress === true, 'image apply');
    // Each subcommand loads only its own half: a device applying a delta parses none of the diff engine.
    const { applyImageDelta } = await import('../image/apply-image-delta.js');
    const { imageId } = await applyImageDelta(oldPath, delta, out, {
      omitLayers: args.values['omit-old-layers'] === true ? 'old' : undefined,
      onProgress: bar.onProgress,
      beforeJavaScriptWork: resumeForJavaScriptWork,
    }).finally(() => bar.done());
    process.stderr.write(`rebuilt image ${imageId} in ${out} (every layer and the config verified)\n`);
    return;
  }
  throw new UsageError(`image takes a subcommand: diff or apply\n${USAGE}`);
}
