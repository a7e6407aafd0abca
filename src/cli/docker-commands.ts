import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isRolldeltaError, RolldeltaError } from '../core/errors.js';
import { mayOmitOldLayers } from '../docker/_omit-old-layers.js';
import { DockerEngine } from '../docker/engine.js';
import type { ReadRing } from '../image/read-ring.js';
import { expectPositionals, levelOption, parseArgs, workerCount, type OptionSpec } from './args.js';
import { writeOutput } from './io.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const diffSpec: Record<string, OptionSpec> = { level: levelOption, 'no-pull-size': { kind: 'boolean' }, help: { kind: 'boolean', short: 'h' } };
const applySpec: Record<string, OptionSpec> = { tag: { kind: 'string' }, workers: { kind: 'string' }, help: { kind: 'boolean', short: 'h' } };

const USAGE = `Usage:
  rolldelta docker diff [--level N] [--no-pull-size] OLD NEW DELTA   delta between two images in the engine
  rolldelta docker apply [--tag NEW] [--workers N|auto] OLD DELTA   rebuild the new image into the engine

The engine is DOCKER_HOST's (default unix:///var/run/docker.sock). OLD and NEW are image references
or IDs. DELTA may be - for standard output (docker diff) or input (docker apply).
--level N: packing of what is new, 0-9 (default 9). --no-pull-size: do not gzip the new layers to
report what a pull would move. --tag NEW: tag the rebuilt image.
--workers N|auto: threads unpacking a level 9 delta's frames ahead of the apply (default 1: none).
`;

/** Runs `fn` with a scratch directory that is removed afterwards. */
async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rolldelta-docker-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A failure about a saved archive names the image it was saved from, which the user gave (`app:1`),
 * not the scratch file (`/tmp/rolldelta-docker-…/old.tar holds sha256:…`). ERR_IO keeps the path:
 * there it is the disk that failed.
 */
function namingImages(e: unknown, saved: ReadonlyArray<readonly [path: string, ref: string]>): unknown {
  if (!isRolldeltaError(e) || e.code === ErrorCode.IO) return e;
  let message = e.message;
  for (const [path, ref] of saved) message = message.split(path).join(`image ${ref}`);
  return message === e.message ? e : new RolldeltaError(e.code, message, { cause: e });
}

async function save(engine: DockerEngine, ref: string, path: string, signal: AbortSignal | undefined, ring?: ReadRing): Promise<void> {
  await engine.saveImagesToFile([ref], path, { signal, ring });
}

/**
 * `rolldelta docker diff OLD NEW DELTA` (images in the engine at DOCKER_HOST) and
 * `rolldelta docker apply OLD DELTA [--tag NEW]` (rebuilds the new image into the engine).
 */
export async function dockerCommand(argv: readonly string[], signal?: AbortSignal): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return void process.stdout.write(USAGE);
  const engine = new DockerEngine();
  if (sub === 'diff') {
    const args = parseArgs(rest, diffSpec);
    if (args.values.help) return void process.stdout.write(USAGE);
    const [oldRef, newRef, out] = expectPositionals(args, ['OLD', 'NEW', 'DELTA'], 'docker diff');
    const { diffImages } = await import('../image/diff-images.js');
    const s = await withScratch(async (dir) => {
      await save(engine, oldRef, join(dir, 'old.tar'), signal);
      await save(engine, newRef, join(dir, 'new.tar'), signal);
      return diffImages(join(dir, 'old.tar'), join(dir, 'new.tar'), out === '-' ? (chunks) => writeOutput('-', chunks) : out, { level: args.values.level as number | undefined, measurePull: args.values['no-pull-size'] !== true, signal }).catch((e: unknown) => {
        throw namingImages(e, [[join(dir, 'old.tar'), oldRef], [join(dir, 'new.tar'), newRef]]);
      });
    });
    process.stderr.write(`image delta: ${formatBytes(s.deltaBytes)}${s.pullBytes === undefined ? '' : `; a pull would move ${formatBytes(s.pullBytes)}`}\n`);
    return;
  }
  if (sub === 'apply') {
    const args = parseArgs(rest, applySpec);
    if (args.values.help) return void process.stdout.write(USAGE);
    const [oldRef, delta] = expectPositionals(args, ['OLD', 'DELTA'], 'docker apply');
    const workers = workerCount(args.values.workers);
    // Each subcommand loads only its own half: a device applying a delta parses none of the diff engine.
    const { applyImageDelta } = await import('../image/apply-image-delta.js');
    const { ReadRing } = await import('../image/read-ring.js');
    const { ImageArchive } = await import('../image/archive-reader.js');
    // One ring of buffers for the save and then the apply: 4 MiB less at the apply's peak.
    const ring = new ReadRing(ImageArchive.READ_BYTES);
    const { imageId } = await withScratch(async (dir) => {
      await save(engine, oldRef, join(dir, 'old.tar'), signal, ring);
      const load = (chunks: AsyncIterable<Uint8Array>) => engine.loadImage(chunks, { signal });
      const omitOldLayers = await mayOmitOldLayers(engine);
      return applyImageDelta(join(dir, 'old.tar'), delta === '-' ? process.stdin : delta, load, { omitOldLayers, reuseChunks: true, ring, workers, beforeJavaScriptWork: resumeForJavaScriptWork, signal }).catch((e: unknown) => {
        throw namingImages(e, [[join(dir, 'old.tar'), oldRef]]);
      });
    });
    const tag = args.values.tag as string | undefined;
    if (tag) {
      const colon = tag.lastIndexOf(':');
      const [repo, t] = colon > tag.lastIndexOf('/') ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
      await engine.tagImage(imageId, repo, t);
    }
    process.stderr.write(`loaded ${imageId}${tag ? ` as ${tag}` : ''} (every layer and the config verified)\n`);
    return;
  }
  throw new UsageError(`docker takes a subcommand: diff or apply\n${USAGE}`);
}
