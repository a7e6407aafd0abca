import { DockerEngine } from '../docker/engine.js';
import { updateImage } from '../docker/update-image.js';
import { expectPositionals, parseArgs, type OptionSpec } from './args.js';
import { resumeForJavaScriptWork } from './optimizing-compiler.js';
import { formatBytes } from './progress-bar.js';
import { UsageError } from './usage-error.js';

const spec: Record<string, OptionSpec> = {
  from: { kind: 'string' },
  to: { kind: 'string' },
  server: { kind: 'string' },
  level: { kind: 'integer' },
  'request-timeout': { kind: 'integer' },
  retries: { kind: 'integer' },
  'retry-interval': { kind: 'integer' },
  help: { kind: 'boolean', short: 'h' },
};

/**
 * `rolldelta update [--from OLD] --to NEW --server URL [--level N]`: the device update against the
 * engine at DOCKER_HOST (without --from, the basis is the newest local image of NEW's repository;
 * --level asks the server for a delta made at that level); prints how it went (delta, pull and
 * why, or nothing to do).
 */
export async function updateCommand(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, spec);
  expectPositionals(args, [], 'update');
  const { from, to, server } = args.values as { from?: string; to?: string; server?: string };
  if (!to || !server) throw new UsageError('update needs --to NEW --server URL (the delta endpoint, e.g. http://host:8080/delta), and --from OLD unless the newest local image of the same repository is the basis');
  const seconds = (name: string) => (args.values[name] === undefined ? undefined : (args.values[name] as number) * 1000);
  const r = await updateImage({
    engine: new DockerEngine(),
    from,
    to,
    deltaUrl: server,
    level: args.values.level as number | undefined,
    requestTimeoutMs: seconds('request-timeout'),
    retries: args.values.retries as number | undefined,
    retryIntervalMs: seconds('retry-interval'),
    onProgress: (e) => {
      if (e.phase !== 'download') process.stderr.write(`${e.phase}: ${e.message ?? ''}\n`);
    },
    beforeJavaScriptWork: resumeForJavaScriptWork,
  });
  const how = r.action === 'delta' ? `by a ${formatBytes(r.deltaBytes ?? 0)} delta` : r.action === 'pull' ? `by a regular pull (${r.reason})` : 'already present';
  process.stderr.write(`${to} is ${r.imageId}: ${how}\n`);
}
