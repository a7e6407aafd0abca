import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, isRolldeltaError, RolldeltaError } from '../core/errors.js';
import { archiveDirectory, createDeltaServer, engineArchives, type DeltaServerEvent } from '../docker/delta-server.js';
import { DeltaStore } from '../docker/delta-store.js';
import { DockerEngine } from '../docker/engine.js';
import { RegistryClient, type RegistryOptions } from '../docker/registry.js';
import { registryArchives } from '../docker/registry-source.js';
import { expectPositionals, levelOption, parseArgs, workerCount, type OptionSpec } from './args.js';
import { serverLogLine } from './server-log.js';
import { UsageError } from './usage-error.js';

const spec: Record<string, OptionSpec> = {
  port: { kind: 'integer', min: 0, max: 65535 },
  host: { kind: 'string' },
  store: { kind: 'string' },
  images: { kind: 'string' },
  engine: { kind: 'boolean' },
  registry: { kind: 'string' },
  workers: { kind: 'string' },
  level: levelOption,
  'max-generations': { kind: 'integer', min: 1 },
  'max-store-bytes': { kind: 'integer', min: 1 },
  'keep-archives': { kind: 'integer', min: 1 },
  help: { kind: 'boolean', short: 'h' },
};

const USAGE = `usage: rolldelta serve --store DIR (--images DIR | --engine | --registry URL) [--port 8080] [--host 127.0.0.1]
       [--workers N|auto] [--level N] [--max-generations N] [--max-store-bytes N] [--keep-archives N]

Serves image deltas over HTTP until stopped (SIGINT, SIGTERM or SIGHUP: generations under way
are abandoned, downloads get 10 s to finish). Logs each request (but the 202 polls) and each
generation on stderr.
  --store DIR       where generated deltas are kept (created when missing)
  --images DIR      image archives (docker save or OCI), one file per image: the image NAME:TAG is
                    the file NAME_TAG.tar, every character other than A-Z a-z 0-9 . - _ replaced by _
                    (app:1 -> app_1.tar, reg.io:5000/team/app:1.2 -> reg.io_5000_team_app_1.2.tar)
  --engine          save images from the Docker Engine at DOCKER_HOST instead (default
                    unix:///var/run/docker.sock; checked at start-up), cached in --store
  --registry URL    read images from the registry at URL instead (http:// or https://, checked
                    at start-up; ROLLDELTA_REGISTRY_USERNAME and ROLLDELTA_REGISTRY_PASSWORD for
                    its login), cached in --store; a reference's own registry host, if it names
                    one (reg.io:5000/app:2), is not looked at: every image comes from URL
  --port N          port to listen on (default 8080)
  --host H          address to listen on (default 127.0.0.1)
  --workers N|auto  threads indexing old images and packing level-9 frames (default auto: one per
                    core; with 1, a level-9 generation holds the server for seconds at a time)
  --level N         level of the deltas devices get when they ask for none, 0-9 (default 9)
  --max-generations N
                    deltas generated at once (default 2; each holds ~2.5x its old image in
                    memory); devices asking for others are told 202 until their turn has come
  --max-store-bytes N
                    most bytes of deltas kept in --store (default: all); past it, the least
                    recently made or served are removed once a delta is made (the archives
                    --engine and --registry cache there are not counted)
  --keep-archives N
                    image archives --engine and --registry keep cached in --store, the most
                    recently used (default 8; each is a whole image, uncompressed from --engine)
  -h, --help        this help

Requests:
  GET /delta?from=OLD&to=NEW[&level=N]   OLD and NEW are image references (URL-encoded),
                                         N a level 0-9 (default the server's --level)
    200  the delta (a Range request gets 206); x-delta-sha256 is its SHA-256
    202  it is being generated: ask again after Retry-After seconds
    204  OLD and NEW name the same image now (x-image-id names it): nothing to apply; a
         device following a moving tag (update --moving-tag) asks from its image's ID, sha256:…
    404  the server has no image OLD or NEW (the body names it, and the file looked for)
    503  the engine or registry is unavailable for now (restarting, busy), or the server is
         stopping: ask again after Retry-After seconds
    400  a bad query; 500 the generation failed (the body says why; every request for the
         next 30 s gets the same answer, the first after that tries again)
  HEAD /delta?...                        the same status and headers (content-length), no body
`;

/**
 * `rolldelta serve --port P --store DIR (--images DIR | --engine | --registry URL) [--workers N|auto] [--level N]`:
 * the delta server, with image archives from a directory (`app:2` is `app_2.tar`), saved from the
 * Docker Engine on demand, or read from a registry (either of which must answer at start-up);
 * --level is that of the deltas devices get when they ask for none (default 9). Runs until
 * stopped (SIGINT, SIGTERM or SIGHUP), then closes its listening socket; --help prints the usage,
 * with the archive naming rule and the requests.
 * @example
 * await serveCommand(['--store', '/srv/deltas', '--images', '/srv/images', '--port', '8080'], AbortSignal.timeout(60_000));
 */
export async function serveCommand(argv: readonly string[], signal: AbortSignal): Promise<void> {
  const args = parseArgs(argv, spec);
  if (args.values.help) return void process.stdout.write(USAGE);
  expectPositionals(args, [], 'serve');
  const store = args.values.store as string | undefined;
  const images = args.values.images as string | undefined;
  if (!store) throw new UsageError('serve needs --store DIR (where deltas are kept)');
  const registry = args.values.registry as string | undefined;
  const sources = [images, args.values.engine, registry].filter((v) => v !== undefined && v !== false).length;
  if (sources === 0) throw new UsageError('serve needs --images DIR (image archives), --engine (save images from DOCKER_HOST) or --registry URL');
  if (sources > 1) throw new UsageError('serve takes one of --images DIR, --engine and --registry URL: one source of images');
  const registryOptions = registry === undefined ? undefined : registryOptionsOf(registry);
  // A folder missing or mistyped would answer every device 404, one request at a time.
  if (images && !(await isDirectory(images))) throw new UsageError(`--images ${images} is not a folder: give the folder of image archives (app:2 in app_2.tar)`);
  // Options first: a bad one is reported without asking an engine anything.
  const level = args.values.level as number | undefined;
  // The server's default is one thread per core: context mixing on the server's own thread would
  // hold every other device's download for seconds (a 76 KB delta took 6.5-25 s to fetch).
  const workers = workerCount(args.values.workers);
  const keepArchives = args.values['keep-archives'] as number | undefined;
  if (images && keepArchives !== undefined) throw new UsageError('--keep-archives is for the archives --engine and --registry cache; --images DIR keeps its own');
  const cacheOptions = { keepArchives };
  const source = images ? archiveDirectory(images) : registryOptions ? registryArchives(await reachableRegistry(registryOptions), store, cacheOptions) : engineArchives(await reachableEngine(), store, cacheOptions);
  const onEvent = (e: DeltaServerEvent) => {
    const line = serverLogLine(e);
    if (line) process.stderr.write(line);
  };
  const maxGenerations = args.values['max-generations'] as number | undefined;
  const maxStoreBytes = args.values['max-store-bytes'] as number | undefined;
  const server = createDeltaServer({ source, store: new DeltaStore(store, { maxBytes: maxStoreBytes }), workers, level, maxGenerations, onEvent });
  const port = (args.values.port as number | undefined) ?? 8080;
  const host = (args.values.host as string | undefined) ?? '127.0.0.1';
  const http = createServer(server.handler);
  // A connection with nothing sent or received for this long is closed: a device that stopped
  // reading its download would otherwise hold it (and its send buffer) for good.
  http.setTimeout(IDLE_CONNECTION_MS);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, resolve);
  }).catch(async (e: unknown) => {
    await server.close();
    throw listenError(e, host, port);
  });
  const listening = (http.address() as AddressInfo).port; // --port 0: the one the system chose
  process.stderr.write(`serving deltas on http://${host}:${listening}/delta?from=OLD&to=NEW (store ${store})\n`);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  // Stopped: no new connections; generations under way are aborted (their temporary files
  // removed), downloads under way get a grace period, then are cut.
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections();
  const cut = setTimeout(() => http.closeAllConnections(), SHUTDOWN_GRACE_MS);
  await server.close();
  await closed;
  clearTimeout(cut);
}

const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use (another server, or this one still running): give another --port',
  EACCES: 'permission denied (ports below 1024 need root): give another --port',
  EADDRNOTAVAIL: 'no interface of this machine has that address: give another --host',
  ENOTFOUND: 'no such host: give another --host',
};

/** A failure to listen (port taken, host unknown) in one line naming the address, not a stack. */
function listenError(e: unknown, host: string, port: number): RolldeltaError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const reason = typeof code === 'string' && Object.hasOwn(LISTEN_REASONS, code) ? LISTEN_REASONS[code] : String((e as Error)?.message ?? e);
  return new RolldeltaError(ErrorCode.IO, `serve cannot listen on ${host}:${port}: ${reason}`, { cause: e });
}

/** How long a connection may stay silent both ways before it is closed. */
const IDLE_CONNECTION_MS = 120_000;
/** How long downloads under way may go on once the server is told to stop. */
const SHUTDOWN_GRACE_MS = 10_000;

/** The engine at DOCKER_HOST, once it has answered a ping: a server without one would answer every request 503 (engine unreachable). */
async function reachableEngine(): Promise<DockerEngine> {
  const engine = new DockerEngine();
  try {
    await engine.ping();
  } catch (e) {
    if (!isRolldeltaError(e)) throw e;
    throw new RolldeltaError(e.code, `serve --engine needs a Docker Engine: ${e.message}`, { cause: e });
  }
  return engine;
}

/** --registry's URL and the login in ROLLDELTA_REGISTRY_USERNAME and _PASSWORD, checked. */
function registryOptionsOf(url: string): RegistryOptions {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // said below
  }
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:') throw new UsageError(`--registry ${url} is not an http:// or https:// URL (e.g. http://127.0.0.1:5000)`);
  const username = process.env.ROLLDELTA_REGISTRY_USERNAME;
  const password = process.env.ROLLDELTA_REGISTRY_PASSWORD;
  if ((username === undefined) !== (password === undefined)) throw new UsageError('--registry takes a login as ROLLDELTA_REGISTRY_USERNAME and ROLLDELTA_REGISTRY_PASSWORD together: one is set without the other');
  return { baseUrl: url, auth: username !== undefined && password !== undefined ? { username, password } : undefined };
}

/** A client of the registry, once it has answered (logged in where it asks): a server without one would answer every request 503. */
async function reachableRegistry(opts: RegistryOptions): Promise<RegistryClient> {
  const client = new RegistryClient(opts);
  try {
    await client.ping();
  } catch (e) {
    if (!isRolldeltaError(e)) throw e;
    throw new RolldeltaError(e.code, `serve --registry needs a registry that answers: ${e.message}`, { cause: e });
  }
  return client;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}
