import { createRequire } from 'node:module';
import { isRolldeltaError } from '../core/errors.js';
import { parseArgs, type OptionSpec, type ParsedArgs } from './args.js';
import { releasePipes } from './release-pipes.js';
import { StopSignals } from './stop-signals.js';
import { UsageError } from './usage-error.js';
import { deferOptimizingCompiler, patchesByStreaming } from './optimizing-compiler.js';
import { isDeviceCommand, keepYoungGenerationSmall } from './young-generation.js';

const HELP = `rolldelta — binary deltas for files and container images

Usage:
  rolldelta signature [options] BASIS SIG     signature of BASIS (rsync model)
  rolldelta delta [options] SIG NEW DELTA     delta of NEW against the basis SIG describes
  rolldelta diff [options] BASIS NEW DELTA    two-sided delta (both files at hand: smallest)
  rolldelta patch [options] BASIS DELTA OUT   rebuild NEW from BASIS and DELTA (format detected)
  rolldelta patch --in-place BASIS DELTA      rewrite BASIS into NEW in the same file (resumes if killed)
  rolldelta image diff [--level N] [--workers N|auto] OLD.tar NEW.tar DELTA
                                              delta between two image archives (docker save / OCI)
  rolldelta image apply [--omit-old-layers] [--workers N|auto] OLD.tar DELTA OUT.tar
                                              rebuild the new image as an archive docker load accepts
  rolldelta docker diff [--level N] OLD NEW DELTA   the same for images in the engine (DOCKER_HOST)
  rolldelta docker apply [--tag NEW] [--workers N|auto] OLD DELTA   rebuild the new image into the engine
  rolldelta serve --store DIR (--images DIR | --engine | --registry URL) [--port 8080] [--host 127.0.0.1]
                  [--workers N|auto] [--level N] [--max-generations N] [--max-store-bytes N] [--keep-archives N]
                                              serve image deltas: GET /delta?from=OLD&to=NEW[&level=N]
  rolldelta update [--from OLD] [--moving-tag] --to NEW --server URL [--level N] [--request-timeout S]
                   [--retries N] [--retry-interval S] [--idle-timeout S] [--max-delta-bytes N] [--engine-wait S]
                   [--work-dir DIR] [--workers N|auto] [--json]
                                              update the engine's NEW by delta, or by a pull on any failure

Any path may be - for standard input/output, but patch reads BASIS and image commands their
archives at random positions: those must be files (patch's BASIS may be - when standard input is
redirected from a file, as in rdiff). The options below are the file commands';
'rolldelta image --help' (and docker, serve, update) shows that command's own.

Options:
  --format native|rdiff   signature/delta format (default native; rdiff = librsync's)
  -b, --block-size N      signature block length (default: √size as rdiff picks it; native: at most 8192)
  -S, --sum-size N        strong sum bytes (default: the hash's full length; -1: minimum safe)
  -H, --hash blake2|md4|sha256   strong hash (default sha256 native, blake2 rdiff)
  -R, --rollsum rabinkarp|rollsum   weak rolling sum (default rabinkarp)
  --level N               packing of literals and diffs, 0-9 (default 6; 9 adds context mixing,
                          smallest but slow to decode; image, docker and serve default to 9;
                          update asks the server for that level, e.g. 6 on a slow CPU)
  --in-place              diff: a delta patch --in-place applies saving at most 256 KiB aside
  --in-place-stash N      diff --in-place: that budget in bytes (0: cycles sent as literals)
  --workers N|auto        signature: threads summing blocks; diff: threads indexing the basis
                          and, at level 9, packing frames (default 1; auto: one per core, but
                          one for a basis under 64 MiB); patch: threads unpacking a level 9
                          delta's frames ahead (default 1: none)
  --progress              progress bar on stderr when it is a terminal; a summary line at the end
  -h, --help              this help
  --version               the version

Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 bad usage; 130, 143 or 129
when stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP, its temporary files removed (a second one
exits at once; patch --in-place is simply killed: it resumes where it stopped).
`;

interface Command {
  spec: Record<string, OptionSpec>;
  run(args: ParsedArgs, stops: StopSignals): Promise<void>;
}

/**
 * Each command's module is loaded only when it runs: parsing code takes time at every start, and
 * a patch on a device should not pay for the diff engine (64 MiB patch: 15 ms and about 2 MiB less).
 */
const commands: Record<string, () => Promise<Command>> = {
  signature: () => import('./signature-command.js'),
  delta: () => import('./delta-command.js'),
  diff: () => import('./diff-command.js'),
  patch: () => import('./patch-command.js'),
};

function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (isDeviceCommand(argv)) keepYoungGenerationSmall();
  if (patchesByStreaming(argv)) deferOptimizingCompiler();
  const stops = new StopSignals(() => releasePipes(rest));
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(HELP);
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (name === 'docker') {
      await (await import('./docker-commands.js')).dockerCommand(rest, stops.signal);
      return 0;
    }
    if (name === 'serve') {
      await (await import('./serve-command.js')).serveCommand(rest, stops.signal);
      return 0;
    }
    if (name === 'update') {
      await (await import('./update-command.js')).updateCommand(rest, stops.signal);
      return 0;
    }
    if (name === 'image') {
      await (await import('./image-commands.js')).imageCommand(rest, stops.signal);
      return 0;
    }
    const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!load) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const cmd = await load();
    const args = parseArgs(rest, cmd.spec);
    if (args.values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    await cmd.run(args, stops);
    return 0;
  } catch (e) {
    if (stops.exitCode !== undefined) {
      process.stderr.write(`rolldelta: stopped by ${stops.received}\n`);
      return stops.exitCode;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`rolldelta: ${e.message}\nTry 'rolldelta --help'.\n`);
      return 2;
    }
    if (isRolldeltaError(e)) {
      process.stderr.write(`rolldelta: ${e.message} (${e.code})\n`);
      return 1;
    }
    process.stderr.write(`rolldelta: unexpected failure: ${(e as Error)?.stack ?? e}\n`);
    return 1;
  } finally {
    stops.dispose();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
