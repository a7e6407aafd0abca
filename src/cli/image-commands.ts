import { applyImageDelta } from '../image/apply-image-delta.js';
import { diffImages } from '../image/diff-images.js';
import { expectPositionals, parseArgs, type OptionSpec } from './args.js';
import { formatBytes } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const diffSpec: Record<string, OptionSpec> = { level: { kind: 'integer' }, help: { kind: 'boolean', short: 'h' } };
const applySpec: Record<string, OptionSpec> = { 'omit-old-layers': { kind: 'boolean' }, help: { kind: 'boolean', short: 'h' } };

/** `rolldelta image diff OLD.tar NEW.tar DELTA` and `rolldelta image apply OLD.tar DELTA OUT.tar`. */
export async function imageCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'diff') {
    const args = parseArgs(rest, diffSpec);
    const [oldPath, newPath, out] = expectPositionals(args, ['OLD.tar', 'NEW.tar', 'DELTA'], 'image diff');
    const s = await diffImages(oldPath, newPath, out, { level: args.values.level as number | undefined });
    const ratio = s.deltaBytes > 0 ? (s.pullBytes / s.deltaBytes).toFixed(1) : '-';
    process.stderr.write(
      `image delta: ${formatBytes(s.deltaBytes)}; a pull would move ${formatBytes(s.pullBytes)} (${ratio}x more); ` +
        `${s.sentLayers} layer(s) rebuilt from the delta, ${s.reusedLayers} reused\n`,
    );
    return;
  }
  if (sub === 'apply') {
    const args = parseArgs(rest, applySpec);
    const [oldPath, delta, out] = expectPositionals(args, ['OLD.tar', 'DELTA', 'OUT.tar'], 'image apply');
    const { imageId } = await applyImageDelta(oldPath, delta, out, { omitOldLayers: args.values['omit-old-layers'] === true });
    process.stderr.write(`rebuilt image ${imageId} (every layer and the config verified)\n`);
    return;
  }
  throw new UsageError('image takes a subcommand: diff OLD.tar NEW.tar DELTA, or apply OLD.tar DELTA OUT.tar');
}
