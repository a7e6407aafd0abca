import { expectPositionals, levelOption, parseArgs, workerCount, type OptionSpec } from './args.js';
import { writeOutput } from './io.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes, progressBar } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const diffSpec: Record<string, OptionSpec> = {
  level: levelOption,
  'old-image': { kind: 'string' },
  'new-image': { kind: 'string' },
  progress: { kind: 'boolean' },
  workers: { kind: 'string' },
  'no-pull-size': { kind: 'boolean' },
  help: { kind: 'boolean', short: 'h' },
};
const applySpec: Record<string, OptionSpec> = { 'omit-old-layers': { kind: 'boolean' }, workers: { kind: 'string' }, progress: { kind: 'boolean' }, help: { kind: 'boolean', short: 'h' } };

const USAGE = `Usage:
  rolldelta image diff [options] OLD.tar NEW.tar DELTA   delta between two image archives
  rolldelta image apply [options] OLD.tar DELTA OUT.tar  rebuild the new image's archive

OLD.tar and NEW.tar are docker save archives or OCI layouts in a tar. DELTA and OUT.tar may be -
for standard output (image apply OLD.tar DELTA - | docker load), and image apply's DELTA - for
standard input; OLD.tar is read at random positions, so it must be a file.

image diff options:
  --level N            packing of what is new, 0-9 (default 9: context mixing, smallest; 6 decodes
                       far faster on a slow device)
  --old-image REF      the image in OLD.tar when it holds several (a tag or an ID)
  --new-image REF      the same for NEW.tar
  --workers N|auto     threads indexing the old image and packing frames (default 1)
  --progress           progress bar on stderr (when it is a terminal)
  --no-pull-size       do not report what a pull would move (gzipping docker save's plain layers
                       to know can take longer than the diff)
image apply options:
  --omit-old-layers    leave out the layers the old image has (docker load of the result
                       then needs the old image loaded: smaller, faster; not for Docker's
                       containerd image store, whose load needs every layer)
  --workers N|auto     threads unpacking a level 9 delta's frames ahead of the patch (default
                       1: none; each costs 30-35 MiB)
  --progress           progress bar on stderr (when it is a terminal)
`;

/**
 * `rolldelta image diff OLD.tar NEW.tar DELTA` (prints delta bytes, pull bytes, ratio) and
 * `rolldelta image apply OLD.tar DELTA OUT.tar [--omit-old-layers]`.
 * @example
 * await imageCommand(['diff', 'app-1.tar', 'app-2.tar', 'app-1-2.rdimg']);
 */
export async function imageCommand(argv: readonly string[], signal?: AbortSignal): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'diff') {
    const args = parseArgs(rest, diffSpec);
    if (args.values.help) return void process.stdout.write(USAGE);
    const [oldPath, newPath, out] = expectPositionals(args, ['OLD.tar', 'NEW.tar', 'DELTA'], 'image diff');
    if (oldPath === '-' || newPath === '-') throw new UsageError('image diff reads OLD.tar and NEW.tar at random positions: give them as files');
    const bar = progressBar(args.values.progress === true, 'image diff');
    const { diffImages } = await import('../image/diff-images.js');
    const s = await diffImages(oldPath, newPath, out === '-' ? (chunks) => writeOutput('-', chunks) : out, {
      level: args.values.level as number | undefined,
      image: { old: args.values['old-image'] as string | undefined, new: args.values['new-image'] as string | undefined },
      workers: workerCount(args.values.workers),
      onProgress: bar.onProgress,
      measurePull: args.values['no-pull-size'] !== true,
      signal,
    }).finally(() => bar.done());
    const pull = s.pullBytes === undefined ? '' : `a pull would move ${formatBytes(s.pullBytes)} (${s.pullBytes} bytes), ${s.deltaBytes > 0 ? s.ratio!.toFixed(1) : '-'}x more; `;
    process.stderr.write(`image delta: ${formatBytes(s.deltaBytes)} (${s.deltaBytes} bytes); ${pull}${s.newLayers} layer(s) rebuilt from the delta, ${s.reusedLayers} reused\n`);
    return;
  }
  if (sub === 'apply') {
    const args = parseArgs(rest, applySpec);
    if (args.values.help) return void process.stdout.write(USAGE);
    const [oldPath, delta, out] = expectPositionals(args, ['OLD.tar', 'DELTA', 'OUT.tar'], 'image apply');
    if (oldPath === '-') throw new UsageError('image apply reads OLD.tar at random positions: give it as a file');
    const bar = progressBar(args.values.progress === true, 'image apply');
    // Each subcommand loads only its own half: a device applying a delta parses none of the diff engine.
    const { applyImageDelta } = await import('../image/apply-image-delta.js');
    const { imageId } = await applyImageDelta(oldPath, delta === '-' ? process.stdin : delta, out === '-' ? (chunks) => writeOutput('-', chunks) : out, {
      omitLayers: args.values['omit-old-layers'] === true ? 'old' : undefined,
      workers: workerCount(args.values.workers),
      onProgress: bar.onProgress,
      beforeJavaScriptWork: resumeForJavaScriptWork,
      signal,
    }).finally(() => bar.done());
    process.stderr.write(`rebuilt image ${imageId} ${out === '-' ? 'to standard output' : `in ${out}`} (every layer and the config verified)\n`);
    return;
  }
  if (sub === '--help' || sub === '-h') return void process.stdout.write(USAGE);
  throw new UsageError(`image takes a subcommand: diff or apply\n${USAGE}`);
}
