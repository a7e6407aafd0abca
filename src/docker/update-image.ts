import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import type { PatchOptions } from '../format/operations-options.js';
import { checkLevel } from '../format/level.js';
import { applyImageDelta } from '../image/apply-image-delta.js';
import { ImageArchive } from '../image/archive-reader.js';
import { readImageDeltaHeader } from '../image/image-delta-format.js';
import { ReadRing } from '../image/read-ring.js';
import { FileBasis } from '../stream/file-basis.js';
import { downloadDelta, type UpdateEvent } from './delta-download.js';
import type { DockerEngine, ImageSummary, RegistryAuth } from './engine.js';

/** Chooses the basis among the engine's images, or undefined when none will do. */
export type BasisPolicy = (images: ImageSummary[], to: string) => string | undefined;

/**
 * The default policy: the newest local image of the same repository as `to` (a device updates
 * `app:7` from whichever `app:*` it runs).
 * @example
 * updateImage({ engine, from: sameRepositoryNewest, to: 'reg/app:8', deltaUrl });
 */
export const sameRepositoryNewest: BasisPolicy = (images, to) => {
  const repoOf = (ref: string) => ref.slice(0, ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.lastIndexOf(':') : ref.length);
  const repo = repoOf(to);
  const candidates = images
    .flatMap((i) => i.RepoTags.filter((t) => t !== to && repoOf(t) === repo).map((tag) => ({ tag, created: i.Created })))
    .sort((a, b) => b.created - a.created);
  return candidates[0]?.tag;
};

/** Bounds how many delta downloads run at once; share one between all updates of a process. */
export class DownloadLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a download limit is a whole number >= 1, got ${max}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** The limiter updates share unless given their own: two downloads at once (a device has one uplink). */
export const defaultDownloadLimiter = new DownloadLimiter(2);

/** What a device update needs; the defaults follow what fleets use today. */
export interface UpdateOptions {
  engine: DockerEngine;
  /** The image the device runs now (the basis), or a policy choosing it among the engine's images; default {@link sameRepositoryNewest}. */
  from?: string | BasisPolicy;
  /** The image to run next: a reference the engine can also pull. */
  to: string;
  /** The delta server's endpoint, e.g. `http://deltas:8080/delta`; `from` and `to` are added. */
  deltaUrl: string;
  /**
   * Ask the server for a delta made at this level (0-9) instead of its own (9 by default: context
   * mixing, the smallest, decoded at ~0.7 MB/s of new content on the bench machine, ~1.5 s per MiB). A
   * device whose CPU is slow for its link asks for 6: deflate, decoded hundreds of times faster,
   * for a larger delta (2 MiB of new text: 244 KB at 9, 537 KB at 6).
   */
  level?: number;
  /** How long the server may keep generating before the device gives up and pulls; default 60 s. */
  requestTimeoutMs?: number;
  /** Download attempts and the pause between them; default 30 attempts, 10 s apart. */
  retries?: number;
  retryIntervalMs?: number;
  /** Longest wait between asks while the server generates; default 30 s. */
  maxBackoffMs?: number;
  /** Longest time applying and loading may take; default 10 minutes. */
  applyTimeoutMs?: number;
  /** Credentials for the fallback pull. */
  auth?: RegistryAuth;
  /**
   * Where the delta and the old image's archive are kept during the update; default the OS temp
   * dir. A delta download cut short (network down, process killed) stays there and the next
   * update between the same images resumes it; partials left for over a week are removed.
   */
  workDir?: string;
  /** Bounds concurrent delta downloads; default {@link defaultDownloadLimiter} (2 at once). */
  limiter?: DownloadLimiter;
  onProgress?: (e: UpdateEvent) => void;
  /** Called before the patch does per-byte work in JavaScript, with its kind and bytes (see PatchOptions). */
  beforeJavaScriptWork?: PatchOptions['beforeJavaScriptWork'];
  signal?: AbortSignal;
}

/** How the update went: nothing to do, done by delta, or done by a regular pull (and why). */
export interface UpdateResult {
  action: 'none' | 'delta' | 'pull';
  imageId: string;
  /** Why the delta path was abandoned, when `action` is 'pull'. */
  reason?: string;
  deltaBytes?: number;
}

function withTimeout<T>(ms: number, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  return run(ac.signal).then(
    (v) => {
      clearTimeout(timer);
      return v;
    },
    (e) => {
      clearTimeout(timer);
      throw ac.signal.aborted ? new RolldeltaError(ErrorCode.TIMEOUT, `${what} took longer than ${ms} ms`, { cause: e }) : e;
    },
  );
}

/**
 * Updates the engine's image `to` the way a fleet device should: nothing when it is there
 * already; else pick the basis (`from`, or the policy's choice among the engine's images), ask
 * the delta server for the delta from it (waiting while it is generated),
 * download it with progress and resume, check it, rebuild the new image from the old one the
 * engine has and stream it into `docker load` (no copy of the new image on disk), and check the
 * loaded image's ID. Any failure — server error or timeout, corrupted or wrong-basis delta,
 * apply error — falls back to a regular pull of `to`, and the result says why.
 * @example
 * const r = await updateImage({ engine: new DockerEngine(), from: 'app:1', to: 'registry/app:2', deltaUrl: 'http://deltas:8080/delta' });
 * if (r.action === 'pull') log.warn(`delta update failed: ${r.reason}`);
 */
export async function updateImage(opts: UpdateOptions): Promise<UpdateResult> {
  const { engine, to } = opts;
  const level = opts.level === undefined ? '' : `&level=${checkLevel(opts.level)}`;
  const present = await engine.inspectImage(to);
  if (present) return { action: 'none', imageId: present.Id };
  const policy = opts.from ?? sameRepositoryNewest;
  const from = typeof policy === 'string' ? policy : policy(await engine.listImages(), to);
  const workDir = opts.workDir ?? tmpdir();
  await removeStaleUpdates(workDir);
  const url = from ? `${opts.deltaUrl}${opts.deltaUrl.includes('?') ? '&' : '?'}from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}${level}` : '';
  // Named after the delta's URL, so that an update cut short resumes its download next time.
  const dir = join(workDir, `${UPDATE_DIR_PREFIX}${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
  try {
    if (!from) throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `no local image can serve as the basis for ${to}`);
    const result = await viaDelta(opts, from, url, dir);
    await rm(dir, { recursive: true, force: true });
    return result;
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const reason = isRolldeltaError(e) ? `${e.message} (${e.code})` : String((e as Error)?.message ?? e);
    opts.onProgress?.({ phase: 'fallback', message: `delta update from ${from ?? '(no basis)'} failed: ${reason}; pulling ${to}` });
    await engine.pullImage(to, { auth: opts.auth, signal: opts.signal });
    const pulled = await engine.inspectImage(to);
    if (!pulled) throw new RolldeltaError(ErrorCode.REMOTE, `the fallback pull of ${to} finished but the engine does not have it`);
    // The image is here: a partial delta towards it is of no more use.
    await rm(dir, { recursive: true, force: true });
    return { action: 'pull', imageId: pulled.Id, reason };
  }
}

/** Work directories of updates are named this, then a hash of the delta's URL. */
const UPDATE_DIR_PREFIX = 'rolldelta-update-';
/** An update's partial download left alone this long is abandoned (its images moved on). */
const STALE_UPDATE_MS = 7 * 24 * 3600 * 1000;

/** Removes the work directories of updates untouched for a week. */
async function removeStaleUpdates(workDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(workDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(UPDATE_DIR_PREFIX)) continue;
    const path = join(workDir, name);
    const s = await stat(path).catch(() => undefined);
    if (s?.isDirectory() && Date.now() - s.mtimeMs > STALE_UPDATE_MS) await rm(path, { recursive: true, force: true });
  }
}

async function viaDelta(opts: UpdateOptions, from: string, url: string, dir: string): Promise<UpdateResult> {
  const { engine, to } = opts;
  if (!(await engine.hasImage(from))) throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `the engine does not have ${from}, the image the delta starts from`);
  await mkdir(dir, { recursive: true });
  const deltaPath = join(dir, 'update.rdimg');
  const oldPath = join(dir, 'old.tar');
  // One ring of buffers for the download, the save and then the apply, which run one after
  // another: the ones before the apply were still resident, as garbage, at its peak.
  const ring = new ReadRing(ImageArchive.READ_BYTES);
  try {
    const deltaBytes = await (opts.limiter ?? defaultDownloadLimiter).run(() =>
      downloadDelta(url, deltaPath, {
        ring,
        requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
        maxBackoffMs: opts.maxBackoffMs ?? 30_000,
        retries: opts.retries ?? 30,
        retryIntervalMs: opts.retryIntervalMs ?? 10_000,
        onProgress: opts.onProgress,
        signal: opts.signal,
      }),
    );
    const file = await FileBasis.open(deltaPath, 'the downloaded image delta');
    const { header } = await readImageDeltaHeader((p, n) => file.read(p, n), file.length).finally(() => file.close());
    opts.onProgress?.({ phase: 'apply', message: `rebuilding ${to} (${header.new.id}) from ${from}` });
    await engine.saveImagesToFile([from], oldPath, { signal: opts.signal, ring });
    await withTimeout(opts.applyTimeoutMs ?? 600_000, 'applying the delta', (signal) =>
      applyImageDelta(oldPath, deltaPath, (chunks) => engine.loadImage(chunks, { signal }), { omitOldLayers: true, reuseChunks: true, ring, beforeJavaScriptWork: opts.beforeJavaScriptWork }),
    );
    const loaded = await engine.inspectImage(to);
    if (loaded?.Id !== header.new.id) {
      throw new RolldeltaError(ErrorCode.CHECKSUM, `after loading, ${to} is ${loaded?.Id ?? 'missing'} instead of ${header.new.id}`);
    }
    return { action: 'delta', imageId: loaded.Id, deltaBytes };
  } finally {
    // Only a partial download is worth keeping: the old image's archive is large, and a whole
    // delta that failed to apply is fetched again rather than trusted.
    await rm(oldPath, { force: true });
    await rm(deltaPath, { force: true });
  }
}
