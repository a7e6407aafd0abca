import { isHttpUrl } from '../docker/_update-settings.js';
import { DockerEngine } from '../docker/engine.js';
import { updateImage, type UpdateResult } from '../docker/update-image.js';
import { expectPositionals, levelOption, parseArgs, workerCount, type OptionSpec } from './args.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes } from './progress-bar.js';
import { updateLog } from './update-log.js';
import { updateErrorJson, updateResultJson } from './update-result-json.js';
import { UsageError } from './usage-error.js';

const spec: Record<string, OptionSpec> = {
  from: { kind: 'string' },
  to: { kind: 'string' },
  'moving-tag': { kind: 'boolean' },
  server: { kind: 'string' },
  level: levelOption,
  'request-timeout': { kind: 'integer', min: 1 },
  retries: { kind: 'integer', min: 1 },
  'retry-interval': { kind: 'integer', min: 0 },
  'idle-timeout': { kind: 'integer', min: 0 },
  'max-delta-bytes': { kind: 'integer', min: 1 },
  'engine-wait': { kind: 'integer', min: 0 },
  'work-dir': { kind: 'string' },
  workers: { kind: 'string' },
  json: { kind: 'boolean' },
  help: { kind: 'boolean', short: 'h' },
};

const USAGE = `Usage: rolldelta update [options] --to NEW --server URL

Updates the Docker Engine's image NEW (DOCKER_HOST, default /var/run/docker.sock) by a delta from
the image it has, or by a regular pull on any failure; prints how it went.
  --to NEW                 the image to run next (a reference the engine can also pull)
  --server URL             the delta server's endpoint, e.g. http://deltas:8080/delta
  --from OLD               the image to update from (default: the newest local image of NEW's repository)
  --moving-tag             NEW is a tag that moves to each release (app:stable): when the engine has
                           it, ask the server which image it names now and update from the one here
                           if that is another (default: an image NEW here is the one wanted)
  --level N                ask for a delta made at level N, 0-9 (default the server's, but 6 with
                           less than 128 MiB of memory; give 6 on a slow CPU)
  --request-timeout S      seconds the server may take to make the delta before pulling (default 60)
  --retries N              download attempts (default 30)
  --retry-interval S       seconds between attempts (default 10)
  --idle-timeout S         seconds without a byte from the server before an attempt is given up
                           and the next resumes (default 30; 0: no limit)
  --max-delta-bytes N      pull instead if the delta is larger than N bytes (default: no limit)
  --engine-wait S          seconds to wait for a Docker Engine that is unreachable (restarting) at
                           the start, after it went away mid-apply (the delta is kept and applied
                           again) and before the pull (default 60; 0: do not wait)
  --workers N|auto         threads unpacking a level 9 delta's frames ahead of the apply (default 2
                           with two cores and 2 GiB of memory, else 1: none; auto: one per core;
                           each costs 30-35 MiB)
  --work-dir DIR           where downloads resume from and the old image is saved during the apply
                           (default the OS temp folder; give one on the device's storage where
                           /tmp is RAM or cleared at boot)
  --json                   also print the outcome as one line of JSON on stdout: {to, action,
                           imageId, from, reason, deltaBytes, seconds} (those that apply), or on
                           failure {to, error: {code, message}} (with deltaError and pullError
                           when the fallback pull failed too)
`;

/**
 * `rolldelta update [--from OLD] [--moving-tag] --to NEW --server URL [--level N] [--json]`: the device update
 * against the engine at DOCKER_HOST (without --from, the basis is the newest local image of NEW's
 * repository; --level asks the server for a delta made at that level); prints how it went (delta,
 * pull and why, or nothing to do) on stderr, and with --json that outcome, or the failure, as one
 * line of JSON on stdout for a fleet's agent.
 * @example
 * await updateCommand(['--from', 'app:1', '--to', 'app:2', '--server', 'http://deltas:8080/delta', '--json']);
 */
export async function updateCommand(argv: readonly string[], signal?: AbortSignal): Promise<void> {
  const args = parseArgs(argv, spec);
  if (args.values.help) return void process.stdout.write(USAGE);
  expectPositionals(args, [], 'update');
  const { from, to, server } = args.values as { from?: string; to?: string; server?: string };
  if (!to || !server) throw new UsageError('update needs --to NEW --server URL (the delta endpoint, e.g. http://host:8080/delta), and --from OLD unless the newest local image of the same repository is the basis');
  if (!isHttpUrl(server)) throw new UsageError(`--server takes an http: or https: URL such as http://deltas:8080/delta, got ${JSON.stringify(server)}`);
  const seconds = (name: string) => (args.values[name] === undefined ? undefined : (args.values[name] as number) * 1000);
  const json = args.values.json === true;
  const t0 = Date.now();
  let r: UpdateResult;
  try {
    r = await updateImage({
      engine: new DockerEngine(),
      from,
      to,
      movingTag: args.values['moving-tag'] === true,
      deltaUrl: server,
      level: args.values.level as number | undefined,
      requestTimeoutMs: seconds('request-timeout'),
      retries: args.values.retries as number | undefined,
      retryIntervalMs: seconds('retry-interval'),
      idleTimeoutMs: seconds('idle-timeout'),
      maxDeltaBytes: args.values['max-delta-bytes'] as number | undefined,
      engineWaitMs: seconds('engine-wait'),
      workDir: args.values['work-dir'] as string | undefined,
      workers: workerCount(args.values.workers),
      onProgress: updateLog((line) => process.stderr.write(line)),
      beforeJavaScriptWork: resumeForJavaScriptWork,
      signal,
    });
  } catch (e) {
    // Stopped by a signal is no failure of the update (main exits 130, 143 or 129): no outcome to report.
    if (json && !signal?.aborted) await printLine(updateErrorJson(to, e));
    throw e; // main prints the one-line reason and picks the exit code, as without --json
  }
  const how = r.action === 'delta' ? `by a ${formatBytes(r.deltaBytes ?? 0)} delta` : r.action === 'pull' ? `by a regular pull (${r.reason})` : 'already present';
  // The time taken, for a fleet's log: a delta applied on a slow device can take minutes.
  const took = ((Date.now() - t0) / 1000).toFixed(1);
  process.stderr.write(`${to} is ${r.imageId}: ${how}, in ${took} s\n`);
  if (json) await printLine(updateResultJson(to, r, Number(took)));
}

/**
 * Writes `line` on stdout. A reader gone (EPIPE: the agent restarted, `| head -c0`) is said on
 * stderr and is no failure: the update's outcome stands, and its exit code says it.
 */
function printLine(line: string): Promise<void> {
  return new Promise((resolve) => {
    let told = false;
    const closed = (e: Error) => {
      if (!told) process.stderr.write(`rolldelta: the JSON outcome was not printed: standard output is closed (${(e as NodeJS.ErrnoException).code ?? e.message})\n`);
      told = true;
      resolve();
    };
    // Kept: the stream reports its failure again as it is destroyed, and unheard that would crash.
    process.stdout.on('error', closed);
    process.stdout.write(line, (e) => (e ? closed(e) : resolve()));
  });
}
