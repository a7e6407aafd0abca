import { Readable } from 'node:stream';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { ReadRing } from '../image/read-ring.js';
import { writeFileAtomic } from '../stream/atomic-file.js';
import { httpSend, readJson, statusError, type HttpResponse, type HttpTarget, type RequestBody } from './_http.js';
import { socketGetChunks } from './_socket-get.js';
import { readJsonStream, type JsonMessage } from './json-stream.js';

/** The newest Engine API version this client was written against; older engines are spoken to in theirs. */
export const MAX_API_VERSION = '1.47';

/** Socket used when neither `socketPath` nor `DOCKER_HOST` says otherwise. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

export interface EngineOptions {
  /** Unix socket of the engine; default from `DOCKER_HOST=unix://...`, else `/var/run/docker.sock`. */
  socketPath?: string;
  /** Use this API version (e.g. '1.41') instead of negotiating it with `/_ping`. */
  apiVersion?: string;
  /** Milliseconds of silence from the engine before a request fails with ERR_TIMEOUT (default 300 000; 0 = never). */
  timeoutMs?: number;
}

/** The parts of `GET /images/{name}/json` rolldelta reads; every other field is kept as-is. */
export interface ImageInspect {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: string;
  Size?: number;
  Architecture?: string;
  Os?: string;
  Config?: Record<string, unknown> | null;
  RootFS?: { Type: string; Layers?: string[] };
  [key: string]: unknown;
}

/** Credentials for a registry, sent base64url-encoded in `X-Registry-Auth`. */
/** One entry of the engine's image list. */
export interface ImageSummary {
  Id: string;
  RepoTags: string[];
  /** Seconds since the epoch. */
  Created: number;
  Size: number;
}

export type RegistryAuth = { username: string; password: string; serveraddress?: string } | { identitytoken: string; serveraddress?: string };

export interface LoadOptions {
  /** Called with each progress message of the engine (`{status, progressDetail}`, `{stream}`). */
  onProgress?(msg: JsonMessage): void;
  signal?: AbortSignal;
}

export interface PullOptions {
  auth?: RegistryAuth;
  onProgress?(msg: JsonMessage): void;
  signal?: AbortSignal;
}

export interface RunOptions {
  /** `HostConfig.NetworkMode`; default 'none' (test and tool containers need no network). */
  networkMode?: string;
  env?: string[];
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * A client for the Docker Engine API over its unix socket: inspect, save, load, tag, remove, pull,
 * import, build and run, with the API version negotiated once on first use. Failures are
 * RolldeltaError: ERR_IO (engine unreachable), ERR_REMOTE (the engine said no, as an HTTP status or
 * inside a progress stream), ERR_TIMEOUT, ERR_ABORTED. An engine that is not there or went away
 * mid-request (stopped, restarting, crashed) is an {@link EngineUnreachableError}: tell it from
 * the rest with {@link isEngineUnreachable}.
 * @example
 * const engine = new DockerEngine();
 * const archive = await engine.saveImages(['app:1']);
 * await pipeline(archive, createWriteStream('app-1.tar'));
 */
export class DockerEngine {
  readonly socketPath: string;
  private readonly target: HttpTarget;
  private readonly fixedVersion: string | undefined;
  private negotiated: Promise<string> | undefined;

  constructor(opts: EngineOptions = {}) {
    this.socketPath = opts.socketPath ?? socketFromEnv(process.env.DOCKER_HOST);
    const timeoutMs = opts.timeoutMs ?? 300_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `timeoutMs must be a non-negative number of milliseconds, got ${timeoutMs}`);
    }
    if (opts.apiVersion !== undefined && parseVersion(opts.apiVersion) === undefined) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `apiVersion must look like "1.41", got ${JSON.stringify(opts.apiVersion)}`);
    }
    this.target = { socketPath: this.socketPath, timeoutMs };
    this.fixedVersion = opts.apiVersion;
  }

  /**
   * Asks the engine which API versions it speaks (`/_ping`, then `/version` only when needed) and
   * settles on min(engine, ours), raised to the engine's minimum when ours is too old for it.
   * @example
   * const { apiVersion } = await new DockerEngine().ping(); // '1.41' on Debian's Docker 20.10
   */
  async ping(opts: { signal?: AbortSignal } = {}): Promise<{ apiVersion: string }> {
    const res = await httpSend(this.target, 'GET', '/_ping', { signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, 'GET /_ping');
    res.discard();
    const header = res.headers['api-version'];
    const server = typeof header === 'string' ? header : undefined;
    let chosen: string;
    if (this.fixedVersion !== undefined) chosen = this.fixedVersion;
    else if (server === undefined || parseVersion(server) === undefined) chosen = await this.versionFromVersionEndpoint();
    else if (compareVersions(server, MAX_API_VERSION) <= 0) chosen = server;
    else {
      // The engine is newer than us: speak ours unless it has dropped it (Engine 29 requires >= 1.44).
      const min = await this.minApiVersion();
      chosen = min !== undefined && compareVersions(min, MAX_API_VERSION) > 0 ? min : MAX_API_VERSION;
    }
    this.negotiated = Promise.resolve(chosen);
    return { apiVersion: chosen };
  }

  /**
   * `GET /images/json`: the engine's images, for choosing a basis among them.
   * @example
   * const newest = (await engine.listImages()).sort((a, b) => b.Created - a.Created)[0];
   */
  async listImages(): Promise<ImageSummary[]> {
    const res = await this.send('GET', '/images/json');
    if (res.status >= 400) throw await statusError(res, 'GET /images/json');
    const v = await readJson(res, 'GET /images/json');
    if (!Array.isArray(v)) throw new RolldeltaError(ErrorCode.REMOTE, "the Docker Engine's image list is not a list");
    return (v as Array<Record<string, unknown>>).map((i) => ({
      Id: String(i.Id),
      RepoTags: Array.isArray(i.RepoTags) ? (i.RepoTags as unknown[]).map(String).filter((t) => t !== '<none>:<none>') : [],
      Created: Number(i.Created) || 0,
      Size: Number(i.Size) || 0,
    }));
  }

  /**
   * Whether the engine keeps its images in containerd's store (Docker's containerd image store, the
   * default of fresh Docker 29 installs; `/info`'s DriverStatus names the snapshotter). Its `docker
   * load` needs every layer's file in the archive, where the classic store skips the files of
   * layers it has (containerd's importer: `layer "…/layer.tar" not found`).
   * @example
   * await new DockerEngine().storesImagesInContainerd(); // false on Debian's Docker 20.10
   */
  async storesImagesInContainerd(): Promise<boolean> {
    const res = await this.send('GET', '/info');
    if (res.status >= 400) throw await statusError(res, 'GET /info');
    const info = (await readJson(res, 'GET /info', 1 << 20)) as { DriverStatus?: unknown } | null;
    const status = Array.isArray(info?.DriverStatus) ? (info.DriverStatus as unknown[]) : [];
    return status.some((pair) => Array.isArray(pair) && pair.some((v) => typeof v === 'string' && v.startsWith('io.containerd.snapshotter')));
  }

  /**
   * `GET /images/{ref}/json`, or undefined when the engine has no such image.
   * @example
   * const img = await engine.inspectImage('app:1');
   * if (img) console.log(img.Id, img.RootFS?.Layers);
   */
  async inspectImage(ref: string): Promise<ImageInspect | undefined> {
    const path = `/images/${encodeRef(ref, 'ref')}/json`;
    const res = await this.send('GET', path);
    if (res.status === 404) {
      res.discard();
      return undefined;
    }
    if (res.status >= 400) throw await statusError(res, `GET ${path}`);
    const v = (await readJson(res, `GET ${path}`)) as ImageInspect;
    if (v === null || typeof v !== 'object' || typeof v.Id !== 'string') {
      throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine's inspect of ${ref} has no Id`);
    }
    return v;
  }

  /**
   * True when the engine has an image by this name, ID or digest.
   * @example
   * if (!(await engine.hasImage('app:1'))) await engine.pullImage('app:1');
   */
  async hasImage(ref: string): Promise<boolean> {
    return (await this.inspectImage(ref)) !== undefined;
  }

  /**
   * `docker save` as a stream: `GET /images/get?names=...`. Read it at your pace (backpressure
   * reaches the engine); its errors are RolldeltaError.
   * @example
   * await pipeline(await engine.saveImages(['app:1']), createWriteStream('app.tar'));
   */
  async saveImages(refs: string[], opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const res = await this.send('GET', saveQuery(refs), { signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, `docker save of ${refs.join(', ')}`);
    return Readable.from(res.body, { objectMode: false });
  }

  /**
   * `docker save` into a file, atomically (temporary file, fsync, rename), in bounded memory: the
   * engine's answer is read into reused buffers (see socketGetChunks) rather than through Node's
   * HTTP client, which allocates a fresh buffer per read (a 256 MiB save on the device peaked 35
   * MiB higher). Resolves to the archive's size. `ring` (a ReadRing of 1 MiB buffers): read through
   * its memory instead of 4 MiB of its own, to share it with what runs after the save, such as
   * applying a delta to the saved image (`applyImageDelta`'s `ring`).
   * @example
   * await engine.saveImagesToFile(['app:1'], '/var/tmp/app-1.tar');
   */
  async saveImagesToFile(refs: string[], path: string, opts: { signal?: AbortSignal; ring?: ReadRing } = {}): Promise<number> {
    const versioned = await this.versioned(saveQuery(refs));
    return writeFileAtomic(path, socketGetChunks(this.target, versioned, `docker save of ${refs.join(', ')}`, opts.signal, opts.ring?.block()));
  }

  /**
   * `docker load`: streams an image archive into `POST /images/load` and returns what the engine
   * loaded (`repo:tag` names, or `sha256:...` IDs for untagged images). An error the engine reports
   * inside its 200 progress stream rejects like an HTTP error, with ERR_REMOTE. Each chunk of the
   * archive has been written to the socket before the next is asked for, so its source may reuse
   * its buffers (applyImageDelta's `reuseChunks`).
   * @example
   * const { loaded } = await engine.loadImage(createReadStream('app.tar')); // ['app:1']
   */
  async loadImage(archive: Readable | AsyncIterable<Uint8Array>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    const res = await this.send('POST', '/images/load?quiet=0', { body: checkSource(archive, 'archive'), headers: { 'Content-Type': 'application/x-tar' }, signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, 'docker load');
    const loaded: string[] = [];
    await readJsonStream(res.body, 'docker load', (m) => {
      const text = typeof m.stream === 'string' ? m.stream : undefined;
      const hit = text && /^Loaded image(?: ID)?: (.+)$/m.exec(text);
      if (hit) loaded.push(hit[1].trim());
      opts.onProgress?.(m);
    });
    return { loaded };
  }

  /**
   * `docker tag source repo:tag`.
   * @example
   * await engine.tagImage('sha256:4f1c...', 'app', '2');
   */
  async tagImage(source: string, repo: string, tag: string): Promise<void> {
    const q = new URLSearchParams({ repo: checkRef(repo, 'repo'), tag: checkRef(tag, 'tag') });
    const path = `/images/${encodeRef(source, 'source')}/tag?${q}`;
    const res = await this.send('POST', path);
    if (res.status >= 400) throw await statusError(res, `docker tag ${source} ${repo}:${tag}`);
    res.discard();
  }

  /**
   * `docker rmi`; a missing image rejects with ERR_REMOTE whose `cause.status` is 404.
   * @example
   * await engine.removeImage('app:1', { force: true });
   */
  async removeImage(ref: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<void> {
    const q = new URLSearchParams({ force: String(opts.force === true), noprune: String(opts.noprune === true) });
    const path = `/images/${encodeRef(ref, 'ref')}?${q}`;
    const res = await this.send('DELETE', path);
    if (res.status >= 400) throw await statusError(res, `docker rmi ${ref}`);
    res.discard();
  }

  /**
   * `docker pull` (`POST /images/create?fromImage=`), optionally with registry credentials. A name
   * without tag or digest pulls `:latest`, never every tag.
   * @example
   * await engine.pullImage('localhost:5000/app:2', { auth: { username: 'u', password: 'p' } });
   */
  async pullImage(ref: string, opts: PullOptions = {}): Promise<void> {
    const { name, tag } = splitRef(checkRef(ref, 'ref'), 'latest');
    const headers: Record<string, string> = {};
    if (opts.auth !== undefined) headers['X-Registry-Auth'] = encodeAuth(opts.auth);
    const q = new URLSearchParams({ fromImage: name, tag });
    const res = await this.send('POST', `/images/create?${q}`, { headers, signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, `docker pull ${ref}`);
    await readJsonStream(res.body, `docker pull ${ref}`, opts.onProgress);
  }

  /**
   * `docker import`: makes a one-layer image from a root filesystem tar and returns its ID.
   * @example
   * const id = await engine.importImage(createReadStream('rootfs.tar'), 'base:1'); // 'sha256:...'
   */
  async importImage(rootfsTar: Readable | AsyncIterable<Uint8Array>, repoTag: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const { name, tag } = splitRef(checkRef(repoTag, 'repoTag'), 'latest');
    const q = new URLSearchParams({ fromSrc: '-', repo: name, tag });
    const res = await this.send('POST', `/images/create?${q}`, { body: checkSource(rootfsTar, 'rootfsTar'), headers: { 'Content-Type': 'application/x-tar' }, signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, `docker import ${repoTag}`);
    let id: string | undefined;
    await readJsonStream(res.body, `docker import ${repoTag}`, (m) => {
      if (typeof m.status === 'string' && /^sha256:[0-9a-f]{64}$/.test(m.status.trim())) id = m.status.trim();
    });
    return id ?? (await this.requireId(repoTag));
  }

  /**
   * `docker build` with the classic builder from a context tar (holding the Dockerfile); returns the
   * image ID. A failing step rejects with ERR_REMOTE quoting the engine.
   * @example
   * const id = await engine.buildImage(Readable.from([contextTar]), 'app:1');
   */
  async buildImage(contextTar: Readable | AsyncIterable<Uint8Array>, tag: string, opts: { dockerfile?: string; onProgress?(msg: JsonMessage): void; signal?: AbortSignal } = {}): Promise<string> {
    const q = new URLSearchParams({ t: checkRef(tag, 'tag'), rm: '1', forcerm: '1' });
    if (opts.dockerfile !== undefined) q.set('dockerfile', opts.dockerfile);
    const res = await this.send('POST', `/build?${q}`, { body: checkSource(contextTar, 'contextTar'), headers: { 'Content-Type': 'application/x-tar' }, signal: opts.signal });
    if (res.status >= 400) throw await statusError(res, `docker build -t ${tag}`);
    let id: string | undefined;
    await readJsonStream(res.body, `docker build -t ${tag}`, (m) => {
      const auxId = m.aux?.ID;
      if (typeof auxId === 'string') id = auxId;
      opts.onProgress?.(m);
    });
    return id ?? (await this.requireId(tag));
  }

  /**
   * `docker run --rm`: creates, starts and waits for a container, returns its exit code and output,
   * and removes it whatever happens.
   * @example
   * const { exitCode, stdout } = await engine.run('app:1', ['cat', '/x']); // 0, 'hi\n'
   */
  async run(image: string, cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
    const spec = { Image: checkRef(image, 'image'), Cmd: cmd, Env: opts.env, Tty: false, HostConfig: { NetworkMode: opts.networkMode ?? 'none' } };
    const created = await this.send('POST', '/containers/create', { body: JSON.stringify(spec), headers: { 'Content-Type': 'application/json' }, signal: opts.signal });
    if (created.status >= 400) throw await statusError(created, `docker create ${image}`);
    const { Id: id } = (await readJson(created, 'docker create')) as { Id: string };
    try {
      await this.expectOk('POST', `/containers/${id}/start`, `docker start ${id}`, opts.signal);
      const waited = await this.send('POST', `/containers/${id}/wait`, { signal: opts.signal });
      if (waited.status >= 400) throw await statusError(waited, `docker wait ${id}`);
      const { StatusCode, Error: waitError } = (await readJson(waited, 'docker wait')) as { StatusCode: number; Error?: { Message?: string } | null };
      if (waitError?.Message) throw new RolldeltaError(ErrorCode.REMOTE, `waiting for container ${id} failed in the Docker Engine: ${waitError.Message}`);
      const logs = await this.send('GET', `/containers/${id}/logs?stdout=1&stderr=1`, { signal: opts.signal });
      if (logs.status >= 400) throw await statusError(logs, `docker logs ${id}`);
      const out = await demuxLogs(logs.body);
      return { exitCode: StatusCode, stdout: out.stdout, stderr: out.stderr };
    } finally {
      const rm = await this.send('DELETE', `/containers/${id}?force=1&v=1`).catch(() => undefined);
      rm?.discard();
    }
  }

  /** Sends a versioned request, negotiating the version first if that has not happened yet. */
  private async send(method: string, path: string, opts: { body?: RequestBody; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<HttpResponse> {
    return httpSend(this.target, method, await this.versioned(path), opts);
  }

  /** `path` under the negotiated API version, as every request but the negotiation itself is sent. */
  private async versioned(path: string): Promise<string> {
    return `/v${await this.apiVersion()}${path}`;
  }

  private async expectOk(method: string, path: string, what: string, signal?: AbortSignal): Promise<void> {
    const res = await this.send(method, path, { signal });
    if (res.status >= 400) throw await statusError(res, what);
    res.discard();
  }

  private apiVersion(): Promise<string> {
    if (this.fixedVersion !== undefined) return Promise.resolve(this.fixedVersion);
    if (this.negotiated === undefined) {
      const p = this.ping().then((r) => r.apiVersion);
      // A failed negotiation (engine not up yet) is retried by the next call instead of cached.
      p.catch(() => {
        if (this.negotiated === p) this.negotiated = undefined;
      });
      this.negotiated = p;
    }
    return this.negotiated;
  }

  private async minApiVersion(): Promise<string | undefined> {
    const res = await httpSend(this.target, 'GET', '/version');
    if (res.status >= 400) throw await statusError(res, 'GET /version');
    const v = (await readJson(res, 'GET /version')) as { MinAPIVersion?: unknown };
    return typeof v?.MinAPIVersion === 'string' && parseVersion(v.MinAPIVersion) ? v.MinAPIVersion : undefined;
  }

  /** Engines too old to send `API-Version` on /_ping still answer /version. */
  private async versionFromVersionEndpoint(): Promise<string> {
    const res = await httpSend(this.target, 'GET', '/version');
    if (res.status >= 400) throw await statusError(res, 'GET /version');
    const v = (await readJson(res, 'GET /version')) as { ApiVersion?: unknown };
    if (typeof v?.ApiVersion !== 'string' || parseVersion(v.ApiVersion) === undefined) {
      throw new RolldeltaError(ErrorCode.REMOTE, `the peer at ${this.socketPath} does not report an API version; is it a Docker Engine?`);
    }
    return compareVersions(v.ApiVersion, MAX_API_VERSION) <= 0 ? v.ApiVersion : MAX_API_VERSION;
  }

  private async requireId(ref: string): Promise<string> {
    const img = await this.inspectImage(ref);
    if (img === undefined) throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine reported success but has no image ${ref} afterwards`);
    return img.Id;
  }
}

/** Reads the socket path out of `DOCKER_HOST`; only unix sockets are supported. */
function socketFromEnv(host: string | undefined): string {
  if (host === undefined || host === '') return DEFAULT_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  throw new RolldeltaError(ErrorCode.UNSUPPORTED, `DOCKER_HOST=${host} is not a unix socket; rolldelta talks to the Docker Engine only over unix:// sockets (pass socketPath, or unset DOCKER_HOST)`);
}

function parseVersion(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Compares "major.minor" API versions numerically (1.9 < 1.41). */
function compareVersions(a: string, b: string): number {
  const [am, an] = parseVersion(a) ?? [0, 0];
  const [bm, bn] = parseVersion(b) ?? [0, 0];
  return am !== bm ? am - bm : an - bn;
}

function checkRef(ref: unknown, what: string): string {
  // No `.`/`..` or empty path segment: no image has one, and in a request path (`/images/{ref}/json`)
  // it would walk to another of the engine's endpoints (a delta server passes devices' references).
  if (typeof ref !== 'string' || ref === '' || /[\s\0]/.test(ref) || ref.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${what} must be a non-empty image reference without spaces or empty, . or .. path parts, got ${JSON.stringify(ref)}`);
  }
  return ref;
}

/** Escapes a reference for a URL path; `/`, `:` and `@` stay literal as the engine's router expects. */
function encodeRef(ref: string, what: string): string {
  return checkRef(ref, what).replace(/[^A-Za-z0-9._\-/:@]/g, (c) => encodeURIComponent(c));
}

/** Splits `name[:tag|@digest]` the way the docker client does; the port colon of a registry is not a tag. */
function splitRef(ref: string, defaultTag: string): { name: string; tag: string } {
  const at = ref.indexOf('@');
  if (at !== -1) return { name: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: defaultTag };
}

/** base64url with padding, as the engine's decoder (Go's URLEncoding) expects. */
function encodeAuth(auth: RegistryAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function checkSource(src: unknown, what: string): Readable | AsyncIterable<Uint8Array> {
  if (src === null || typeof src !== 'object' || typeof (src as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `${what} must be a Readable or an AsyncIterable of Uint8Array chunks`);
  }
  return src as Readable | AsyncIterable<Uint8Array>;
}

/**
 * Splits the engine's multiplexed log stream (no TTY): frames of an 8-byte header (stream type,
 * 3 zero bytes, big-endian u32 length) followed by the payload.
 */
async function demuxLogs(body: AsyncIterable<Uint8Array>): Promise<{ stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let buf = Buffer.alloc(0);
  for await (const chunk of body) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    let at = 0;
    while (buf.length - at >= 8) {
      const kind = buf[at];
      const size = buf.readUInt32BE(at + 4);
      if (kind > 2 || buf[at + 1] !== 0 || buf[at + 2] !== 0 || buf[at + 3] !== 0) {
        throw new RolldeltaError(ErrorCode.REMOTE, `the Docker Engine's log stream has a bad frame header (type ${kind}); was the container started with a TTY?`);
      }
      if (buf.length - at - 8 < size) break;
      (kind === 2 ? err : out).push(buf.subarray(at + 8, at + 8 + size));
      at += 8 + size;
    }
    buf = buf.subarray(at);
  }
  if (buf.length !== 0) throw new RolldeltaError(ErrorCode.TRUNCATED, `the Docker Engine's log stream ended inside a frame (${buf.length} bytes left over)`);
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** The save endpoint's path for `refs` (at least one, each checked). */
function saveQuery(refs: string[]): string {
  if (!Array.isArray(refs) || refs.length === 0) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'saving images needs at least one image reference');
  }
  const q = new URLSearchParams();
  for (const r of refs) q.append('names', checkRef(r, 'refs[]'));
  return `/images/get?${q}`;
}
