import { createHash } from 'node:crypto';
import { concatBytes } from '../core/bytes.js';
import { ErrorCode, isRolldeltaError, RolldeltaError } from '../core/errors.js';
import { httpGet, type GetResponse } from './_http-get.js';
import { isBusyStatus, RegistryUnavailableError } from './registry-unavailable.js';

/** Every manifest and index type a registry may hold; naming all four avoids 404s on OCI-pushed images. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MAX_MANIFEST = 4 << 20;
/** Largest token answer read (a JWT is a few KiB). */
const MAX_TOKEN = 1 << 20;
/** Default of `idleTimeoutMs`. */
const IDLE_TIMEOUT_MS = 60_000;

export interface RegistryOptions {
  /** e.g. `http://127.0.0.1:5000` or `https://registry.example.com`. */
  baseUrl: string;
  /** Credentials for Basic auth or for fetching Bearer tokens. */
  auth?: { username: string; password: string };
  /** Largest manifest or index read (each is read whole, and parsed). Default 4 MiB. */
  maxManifestBytes?: number;
  /**
   * Longest wait for a byte from the registry or its token service (connecting, an answer's
   * headers, each piece of a body) before the request fails with ERR_TIMEOUT, as a
   * {@link RegistryUnavailableError}. Default 60 s: a connection left half-open by a registry's
   * restart would otherwise hold a delta server's generation, and every device asking for it, for good.
   */
  idleTimeoutMs?: number;
}

/** A descriptor as manifests name layers and configs. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** An image manifest, resolved from an index by platform when the reference names a list. */
export interface ImageManifest {
  /** Digest of the manifest bytes as served. */
  digest: string;
  /** The manifest bytes as served. */
  bytes: Uint8Array;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme, params };
}

/**
 * Reads manifests and blobs from an OCI distribution registry, so a delta server can diff images
 * that are in no engine. Answers 401 challenges: Basic with the given credentials, Bearer by
 * fetching a token from the challenge's realm (with the credentials when given) and retrying.
 * @example
 * const reg = new RegistryClient({ baseUrl: 'http://127.0.0.1:5000' });
 * const m = await reg.manifest('app', '2', { architecture: 'amd64' });
 * for await (const chunk of reg.blob('app', m.layers[0].digest)) hash.update(chunk);
 */
export class RegistryClient {
  private token: string | undefined;
  private readonly base: string;

  constructor(private readonly opts: RegistryOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  /**
   * Checks that the registry answers its API's base (`GET /v2/`), logging in as a manifest read
   * would: ERR_IO or ERR_TIMEOUT when it cannot be reached, ERR_REMOTE when it refuses (credentials
   * wanted or refused, not a registry).
   * @example
   * await new RegistryClient({ baseUrl: 'http://127.0.0.1:5000' }).ping();
   */
  async ping(): Promise<void> {
    (await this.request('/v2/', {})).discard();
  }

  /**
   * The digest `repo:reference` names now (its manifest's, or its index's), from the answer's
   * Docker-Content-Digest to a HEAD request, which registries count as no pull (Docker Hub's
   * limits count GETs); undefined when the registry sends none. ERR_REMOTE with status 404 (in
   * `cause`) when there is no such image.
   * @example
   * const digest = await reg.manifestDigest('app', '2'); // 'sha256:…'
   */
  async manifestDigest(repo: string, reference: string): Promise<string | undefined> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, true);
    res.discard();
    const digest = res.header('docker-content-digest');
    return digest !== undefined && /^sha256:[0-9a-f]{64}$/.test(digest) ? digest : undefined;
  }

  /** The image manifest of `repo:reference` (tag or digest), an index resolved to `platform`. */
  async manifest(repo: string, reference: string, platform: { os?: string; architecture?: string } = { os: 'linux', architecture: 'amd64' }): Promise<ImageManifest> {
    for (let depth = 0; depth < 3; depth++) {
      const res = await this.request(`/v2/${repo}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
      const what = `the manifest of ${repo}:${reference}`;
      const bytes = await this.body(res, this.opts.maxManifestBytes ?? MAX_MANIFEST, what);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const doc = jsonObject(bytes, what);
      if (doc.mediaType !== undefined && typeof doc.mediaType !== 'string') throw bad(`${what} has a mediaType that is not a string`);
      const mediaType = doc.mediaType ?? res.header('content-type') ?? '';
      if (INDEX_TYPES.has(mediaType) || doc.manifests !== undefined) {
        if (!Array.isArray(doc.manifests)) throw bad(`${what} is an index without a manifests list`);
        const list = doc.manifests.map((d, i) => descriptor(d, `${what}, manifest ${i}`));
        const pick =
          list.find((d) => d.platform?.os === (platform.os ?? 'linux') && d.platform?.architecture === (platform.architecture ?? 'amd64')) ??
          (list.length === 1 ? list[0] : undefined);
        if (!pick) throw new RolldeltaError(ErrorCode.REMOTE, `${repo}:${reference} has no manifest for ${platform.os ?? 'linux'}/${platform.architecture ?? 'amd64'}`);
        reference = pick.digest;
        continue;
      }
      if (doc.config === undefined || !Array.isArray(doc.layers)) throw bad(`${what} has no config or layers`);
      const config = descriptor(doc.config, `${what}, config`);
      const layers = doc.layers.map((d, i) => descriptor(d, `${what}, layer ${i}`));
      return { digest, bytes, mediaType, config, layers };
    }
    throw new RolldeltaError(ErrorCode.CORRUPT, `the indexes of ${repo} nest too deeply`);
  }

  /**
   * A blob, streamed; `range` reads part of it (a resumed download). A whole blob is checked
   * against its digest as it streams: after its last piece, one that hashes otherwise is
   * ERR_CHECKSUM (a part cannot be checked on its own).
   */
  async *blob(repo: string, digest: string, range?: { start: number; end?: number }): AsyncGenerator<Uint8Array> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end ?? ''}` } : {};
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, headers);
    const hash = range ? undefined : createHash('sha256');
    try {
      if (range && res.status !== 206) throw new RolldeltaError(ErrorCode.REMOTE, `the registry ignored the Range request for ${digest} (answered ${res.status})`);
      for await (const c of res.body) {
        hash?.update(c);
        yield c;
      }
    } finally {
      res.discard(); // a consumer that stops early frees the connection too
    }
    if (hash) checkDigest(digest, hash.digest('hex'));
  }

  /** A whole small blob (a config), checked against its digest. */
  async blobBytes(repo: string, digest: string, max = MAX_MANIFEST): Promise<Uint8Array> {
    const bytes = await this.body(await this.request(`/v2/${repo}/blobs/${digest}`, {}), max, `blob ${digest}`);
    checkDigest(digest, createHash('sha256').update(bytes).digest('hex'));
    return bytes;
  }

  /** A whole body, read as it streams and refused past `max` bytes (with or without a Content-Length). */
  private async body(res: GetResponse, max: number, what: string): Promise<Uint8Array> {
    const declared = Number(res.header('content-length') ?? NaN);
    if (declared > max) {
      res.discard();
      throw new RolldeltaError(ErrorCode.LIMIT, `${what} is ${declared} bytes, more than the ${max} allowed`);
    }
    return readCapped(res, max, what);
  }

  private async request(path: string, headers: Record<string, string>, head = false): Promise<GetResponse> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const auth: Record<string, string> = this.token ? { authorization: this.token } : {};
      const res = await this.get(`${this.base}${path}`, { ...headers, ...auth }, `the registry at ${this.base}`, head);
      if (res.status === 401 && attempt === 0) {
        res.discard();
        this.token = await this.answerChallenge(res.header('www-authenticate') ?? '');
        continue;
      }
      if (res.status >= 400) {
        const text = await res.text(300);
        throw refusal(`the registry answered ${res.status} for ${path}: ${text}`, res.status, this.base, { status: res.status });
      }
      return res;
    }
    throw new RolldeltaError(ErrorCode.REMOTE, `the registry refused the credentials for ${path}`);
  }

  private async answerChallenge(header: string): Promise<string> {
    const { scheme, params } = parseChallenge(header);
    const creds = this.opts.auth ? Buffer.from(`${this.opts.auth.username}:${this.opts.auth.password}`).toString('base64') : undefined;
    if (scheme === 'basic') {
      if (!creds) throw new RolldeltaError(ErrorCode.REMOTE, 'the registry wants Basic credentials; pass auth');
      return `Basic ${creds}`;
    }
    if (scheme !== 'bearer' || !params.realm) throw new RolldeltaError(ErrorCode.REMOTE, `the registry's challenge ${JSON.stringify(header.slice(0, 200))} is not one this client answers`);
    let url: URL;
    try {
      url = new URL(params.realm);
    } catch {
      throw new RolldeltaError(ErrorCode.REMOTE, `the registry's challenge names a token service at ${JSON.stringify(params.realm.slice(0, 200))}, which is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RolldeltaError(ErrorCode.REMOTE, `the registry's token service ${url.origin} is not http(s)`);
    if (params.service) url.searchParams.set('service', params.service);
    if (params.scope) url.searchParams.set('scope', params.scope);
    const res = await this.get(url.href, creds ? { authorization: `Basic ${creds}` } : {}, `the registry's token service at ${url.origin}`);
    if (res.status < 200 || res.status > 299) {
      res.discard();
      throw refusal(`the token service at ${url.origin} answered ${res.status}`, res.status, this.base);
    }
    const body = jsonObject(await readCapped(res, MAX_TOKEN, 'the token answer'), 'the token answer', ErrorCode.REMOTE);
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '' || /[\r\n]/.test(token)) throw new RolldeltaError(ErrorCode.REMOTE, 'the token service answered without a usable token');
    return `Bearer ${token}`;
  }

  /**
   * GET (or HEAD) under the idle timeout, the answer's body read through {@link brokenOff}: a
   * registry that cannot be reached, or breaks off or stalls mid-answer, is a
   * RegistryUnavailableError.
   */
  private async get(url: string, headers: Record<string, string>, who: string, head = false): Promise<GetResponse> {
    let res: GetResponse;
    try {
      res = await httpGet(url, { headers, head, idleTimeoutMs: this.opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS });
    } catch (e) {
      throw unavailable(e, `cannot reach ${who}`, this.base);
    }
    return { ...res, body: brokenOff(res.body, `${who} broke off its answer`, this.base) };
  }
}

/**
 * The error for an error answer `status`, saying `message`: a RegistryUnavailableError (ask again
 * later) for a busy registry's (429, 502-504), else ERR_REMOTE with `cause`.
 */
function refusal(message: string, status: number, base: string, cause?: unknown): RolldeltaError {
  if (isBusyStatus(status)) return new RegistryUnavailableError(ErrorCode.REMOTE, `${message}; ask again later`, base, status, { status });
  return new RolldeltaError(ErrorCode.REMOTE, message, cause === undefined ? undefined : { cause });
}

/** The pieces of `body`; a failure to read the next (the connection broke or stalled) is a RegistryUnavailableError. */
async function* brokenOff(body: AsyncIterable<Uint8Array>, what: string, base: string): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        done = true; // a failed iterator is finished
        throw unavailable(e, what, base);
      }
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) await it.return?.(); // stopped early: the body's own iterator frees the connection
  }
}

/** A transport failure (`e`: Node's error, or ERR_TIMEOUT from the idle timeout) as a RegistryUnavailableError. */
function unavailable(e: unknown, what: string, base: string): RegistryUnavailableError {
  const code = isRolldeltaError(e) && e.code === ErrorCode.TIMEOUT ? ErrorCode.TIMEOUT : ErrorCode.IO;
  return new RegistryUnavailableError(code, `${what}: ${(e as Error).message}`, base, undefined, e);
}

/** ERR_CHECKSUM unless the bytes of blob `digest` hashed to `hex`. */
function checkDigest(digest: string, hex: string): void {
  if (`sha256:${hex}` !== digest) throw new RolldeltaError(ErrorCode.CHECKSUM, `blob ${digest} arrived with digest sha256:${hex}`);
}

function bad(what: string): RolldeltaError {
  return new RolldeltaError(ErrorCode.CORRUPT, `${what}; the registry sent something that is not an image manifest`);
}

/** Reads a body up to `max` bytes: more is ERR_LIMIT. */
async function readCapped(res: GetResponse, max: number, what: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body) {
    if (n + c.length > max) {
      res.discard();
      throw new RolldeltaError(ErrorCode.LIMIT, `${what} is more than the ${max} bytes allowed`);
    }
    parts.push(c);
    n += c.length;
  }
  return concatBytes(parts);
}

/** A JSON object from bytes; anything else is `code` (ERR_CORRUPT by default). */
function jsonObject(bytes: Uint8Array, what: string, code: ErrorCode = ErrorCode.CORRUPT): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new RolldeltaError(code, `${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RolldeltaError(code, `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** A descriptor with a sha256 digest and a byte size, as the distribution spec requires. */
function descriptor(v: unknown, what: string): Descriptor {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not a descriptor object`);
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(d.digest)) throw bad(`${what} has digest ${JSON.stringify(d.digest)?.slice(0, 90)}, not sha256:<64 hex>`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(`${what} has size ${JSON.stringify(d.size)?.slice(0, 40)}, not a byte count`);
  const p = d.platform;
  const platform = p !== null && typeof p === 'object' && !Array.isArray(p) ? (p as Descriptor['platform']) : undefined;
  return { ...(d as unknown as Descriptor), platform };
}
