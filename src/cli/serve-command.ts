import { createServer } from 'node:http';
import { archiveDirectory, createDeltaServer, engineArchives } from '../docker/delta-server.js';
import { DeltaStore } from '../docker/delta-store.js';
import { DockerEngine } from '../docker/engine.js';
import { expectPositionals, parseArgs, workerCount, type OptionSpec } from './args.js';
import { UsageError } from './usage-error.js';

const spec: Record<string, OptionSpec> = {
  port: { kind: 'integer' },
  host: { kind: 'string' },
  store: { kind: 'string' },
  images: { kind: 'string' },
  engine: { kind: 'boolean' },
  workers: { kind: 'string' },
  level: { kind: 'integer' },
  help: { kind: 'boolean', short: 'h' },
};

/**
 * `rolldelta serve --port P --store DIR (--images DIR | --engine) [--workers N|auto] [--level N]`: the delta
 * server, with image archives from a directory (`app:2` is `app_2.tar`) or saved from the Docker
 * Engine on demand; --level is that of the deltas devices get when they ask for none (default 9).
 * Runs until interrupted.
 */
export async function serveCommand(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, spec);
  expectPositionals(args, [], 'serve');
  const store = args.values.store as string | undefined;
  const images = args.values.images as string | undefined;
  if (!store) throw new UsageError('serve needs --store DIR (where deltas are kept)');
  if (!images && !args.values.engine) throw new UsageError('serve needs --images DIR (image archives) or --engine (save images from DOCKER_HOST)');
  const source = images ? archiveDirectory(images) : engineArchives(new DockerEngine(), store);
  const level = args.values.level as number | undefined;
  const server = createDeltaServer({ source, store: new DeltaStore(store), workers: workerCount(args.values.workers), level });
  const port = (args.values.port as number | undefined) ?? 8080;
  const host = (args.values.host as string | undefined) ?? '127.0.0.1';
  const http = createServer(server.handler);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, resolve);
  });
  process.stderr.write(`serving deltas on http://${host}:${port}/delta?from=OLD&to=NEW (store ${store})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => http.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
