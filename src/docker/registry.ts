import { createHash } from 'node:crypto';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** Every manifest and index type a registry may hold; naming all four avoids 404s on OCI-pushed images. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MAX_MANIFEST = 4 << 20;

export interface RegistryOptions {
  /** e.g. `http://127.0.0.1:5000` or `https://registry.example.com`. */
  baseUrl: string;
  /** Credentials for Basic auth or for fetching Bearer tokens. */
  auth?: { username: string; password: string };
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

  /** The image manifest of `repo:reference` (tag or digest), an index resolved to `platform`. */
  async manifest(repo: string, reference: string, platform: { os?: string; architecture?: string } = { os: 'linux', architecture: 'amd64' }): Promise<ImageManifest> {
    for (let depth = 0; depth < 3; depth++) {
      const res = await this.request(`/v2/${repo}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
      const bytes = await this.body(res, MAX_MANIFEST, `manifest ${repo}:${reference}`);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new RolldeltaError(ErrorCode.CORRUPT, `the registry's manifest for ${repo}:${reference} is not JSON`);
      }
      const mediaType = String(doc.mediaType ?? res.headers.get('content-type') ?? '');
      if (INDEX_TYPES.has(mediaType) || Array.isArray(doc.manifests)) {
        const list = doc.manifests as Descriptor[];
        const pick =
          list.find((d) => d.platform?.os === (platform.os ?? 'linux') && d.platform?.architecture === (platform.architecture ?? 'amd64')) ??
          (list.length === 1 ? list[0] : undefined);
        if (!pick) throw new RolldeltaError(ErrorCode.REMOTE, `${repo}:${reference} has no manifest for ${platform.os ?? 'linux'}/${platform.architecture ?? 'amd64'}`);
        reference = pick.digest;
        continue;
      }
      const config = doc.config as Descriptor | undefined;
      const layers = doc.layers as Descriptor[] | undefined;
      if (!config || !Array.isArray(layers)) throw new RolldeltaError(ErrorCode.CORRUPT, `the manifest of ${repo}:${reference} has no config or layers`);
      return { digest, bytes, mediaType, config, layers };
    }
    throw new RolldeltaError(ErrorCode.CORRUPT, `the indexes of ${repo} nest too deeply`);
  }

  /** A blob, streamed; `range` reads part of it (a resumed download). */
  async *blob(repo: string, digest: string, range?: { start: number; end?: number }): AsyncGenerator<Uint8Array> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end ?? ''}` } : {};
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, headers);
    if (range && res.status !== 206) throw new RolldeltaError(ErrorCode.REMOTE, `the registry ignored the Range request for ${digest} (answered ${res.status})`);
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) yield c;
  }

  /** A whole small blob (a config), checked against its digest. */
  async blobBytes(repo: string, digest: string, max = MAX_MANIFEST): Promise<Uint8Array> {
    const bytes = await this.body(await this.request(`/v2/${repo}/blobs/${digest}`, {}), max, `blob ${digest}`);
    const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (got !== digest) throw new RolldeltaError(ErrorCode.CHECKSUM, `blob ${digest} arrived with digest ${got}`);
    return bytes;
  }

  private async body(res: Response, max: number, what: string): Promise<Uint8Array> {
    const declared = Number(res.headers.get('content-length'));
    if (declared > max) throw new RolldeltaError(ErrorCode.LIMIT, `${what} is ${declared} bytes, more than the ${max} allowed`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > max) throw new RolldeltaError(ErrorCode.LIMIT, `${what} is ${bytes.length} bytes, more than the ${max} allowed`);
    return bytes;
  }

  private async request(path: string, headers: Record<string, string>): Promise<Response> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const auth: Record<string, string> = this.token ? { authorization: this.token } : {};
      let res: Response;
      try {
        res = await fetch(`${this.base}${path}`, { headers: { ...headers, ...auth } });
      } catch (e) {
        throw new RolldeltaError(ErrorCode.IO, `cannot reach the registry at ${this.base}: ${(e as Error).message}`, { cause: e });
      }
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel();
        this.token = await this.answerChallenge(res.headers.get('www-authenticate') ?? '');
        continue;
      }
      if (res.status >= 400) {
        const text = (await res.text().catch(() => '')).slice(0, 300);
        throw new RolldeltaError(ErrorCode.REMOTE, `the registry answered ${res.status} for ${path}: ${text}`, { cause: { status: res.status } });
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
    if (scheme !== 'bearer' || !params.realm) throw new RolldeltaError(ErrorCode.REMOTE, `the registry's challenge ${JSON.stringify(header)} is not one this client answers`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    if (params.scope) url.searchParams.set('scope', params.scope);
    const res = await fetch(url, { headers: creds ? { authorization: `Basic ${creds}` } : {} });
    if (!res.ok) throw new RolldeltaError(ErrorCode.REMOTE, `the token service at ${url.origin} answered ${res.status}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RolldeltaError(ErrorCode.REMOTE, 'the token service answered without a token');
    return `Bearer ${token}`;
  }
}
