import { createHash } from 'node:crypto';
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import type { PatchOptions } from '../format/operations-options.js';
import { applyImageDelta } from '../image/apply-image-delta.js';
import { ImageArchive } from '../image/archive-reader.js';
import type { ImageDeltaHeader } from '../image/image-delta-format.js';
import { readImageDeltaFileHeader } from '../image/image-delta-file.js';
import { ReadRing } from '../image/read-ring.js';
import type { WorkerCount } from '../stream/worker-count.js';
import { ConcurrencyLimit } from './_concurrency-limit.js';
import { httpGet } from './_http-get.js';
import { EngineWait } from './_engine-wait.js';
import { mayOmitOldLayers } from './_omit-old-layers.js';
import { saveBasis } from './_save-basis.js';
import { abortAfter, updateAborted } from './_update-abort.js';
import { UpdateWorkDir } from './_update-work-dir.js';
import { updateSettings, type UpdateSettings } from './_update-settings.js';
import { downloadDelta, type UpdateEvent } from './delta-download.js';
import type { DockerEngine, ImageSummary, RegistryAuth } from './engine.js';
import { isEngineUnreachable } from './engine-unreachable.js';
import { FallbackPullError, asError, errorReason } from './fallback-pull-error.js';

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

/**
 * Bounds how many delta downloads run at once; share one between all updates of a process.
 * `run(fn, { signal, onWait })` runs `fn` in its turn; an abort while waiting is ERR_ABORTED.
 * @example
 * const limiter = new DownloadLimiter(1); // one download at a time on a slow uplink
 * await limiter.run(() => downloadDelta(url, path, opts), { signal });
 */
export class DownloadLimiter extends ConcurrencyLimit {
  constructor(max: number) {
    super(max, { what: 'a download limit', aborted: updateAborted });
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
  /**
   * `to` is a tag that moves to each new release (`app:stable`, `app:latest`): when the engine has
   * it, ask the delta server which image it names now, and update from the one here (by its ID)
   * when that is another, instead of doing nothing. One HEAD request while it is the same image
   * (the server answers 204). The image it replaces keeps no tag, as after a `docker pull`.
   * Default false: an image `to` here is the image wanted. The server must find the device's
   * image by its ID (see createDeltaServer).
   */
  movingTag?: boolean;
  /** The delta server's endpoint, an http: or https: URL such as `http://deltas:8080/delta`; `from` and `to` are added. */
  deltaUrl: string;
  /**
   * Ask the server for a delta made at this level (0-9) instead of its own (9 by default: context
   * mixing, the smallest, decoded at ~0.7 MB/s of new content on the bench machine, ~1.5 s per MiB). A
   * device whose CPU is slow for its link asks for 6: deflate, decoded hundreds of times faster,
   * for a larger delta (2 MiB of new text: 244 KB at 9, 537 KB at 6). A device with less than
   * 128 MiB of memory (the machine's, or its cgroup's limit) asks for 6 unless given a level: a
   * level 9 apply of much new content peaks at ~90 MiB, and a 64 MiB one thrashed without end.
   */
  level?: number;
  /**
   * Most bytes of delta to download; default none. A delta server that announces or sends more
   * (a compromised one could send for ever) ends the delta path with ERR_LIMIT: the image is pulled.
   */
  maxDeltaBytes?: number;
  /** How long the server may keep generating before the device gives up and pulls; default 60 s. */
  requestTimeoutMs?: number;
  /** Download attempts in all (each resumes where the last stopped); default 30; 0 and 1 try once. */
  retries?: number;
  /** The pause before each attempt after the first; default 10 s. */
  retryIntervalMs?: number;
  /**
   * Longest time without a byte from the delta server (connecting and answering included) before
   * that attempt fails with ERR_TIMEOUT and the next one resumes; default 30 s, 0 for none.
   */
  idleTimeoutMs?: number;
  /** Longest wait between asks while the server generates; default 30 s. */
  maxBackoffMs?: number;
  /** Longest time applying and loading may take; default 10 minutes. */
  applyTimeoutMs?: number;
  /**
   * How long to wait for a Docker Engine that is unreachable (stopped, restarting, crashed; see
   * isEngineUnreachable) before giving up; default 60 s, 0 not to wait. The engine is pinged, with
   * a short backoff, when it cannot be reached at the start, when it went away during the delta's
   * apply, and before the fallback pull; each wait is reported as a `waiting` event, and all of
   * them share this time. The whole delta is kept and, once the engine is back, applied once more
   * (no new download) unless the interrupted load brought the image. An engine still away after
   * this long fails the update as before (its ERR_IO, or a FallbackPullError), the delta kept for
   * the next run.
   */
  engineWaitMs?: number;
  /** Credentials for the fallback pull. */
  auth?: RegistryAuth;
  /**
   * Where the delta and the old image's archive are kept during the update; default the OS temp
   * dir. A delta download cut short (network down, process killed) stays there and the next
   * update between the same images resumes it; a whole delta whose apply was stopped (abort,
   * timeout, process killed, the engine gone) is used again without a request. Left over a week,
   * they are removed.
   * One update at a time uses the directory of an old and new image: a second call, in this
   * process or another (a lock file holding its pid), waits for the first. Each update's folder
   * in it is made for this user alone; one that is a symlink or another user's is refused
   * (ERR_UNSAFE_PATH: the delta is skipped, the image pulled), and one of this user's that others
   * can write (made by an older version under umask 002) is made private again and emptied.
   */
  workDir?: string;
  /** Bounds concurrent delta downloads; default {@link defaultDownloadLimiter} (2 at once). */
  limiter?: DownloadLimiter;
  onProgress?: (e: UpdateEvent) => void;
  /** Called before the patch does per-byte work in JavaScript, with its kind and bytes (see PatchOptions). */
  beforeJavaScriptWork?: PatchOptions['beforeJavaScriptWork'];
  /**
   * Worker threads unpacking a level 9 delta's frames ahead of the apply ('auto': one per core):
   * on 2 cores a delta of much new content applies in ~0.6x the time, for 30-35 MiB more RSS a
   * thread (see PatchStreamOptions.workers). Default 2 on a device with two cores or more and 2 GiB
   * of memory (the machine's, or its cgroup's limit), else 1 (none).
   */
  workers?: WorkerCount;
  /** Stops the update at any point, with ERR_ABORTED (no fallback pull is started). */
  signal?: AbortSignal;
}

/** How the update went: nothing to do, done by delta, or done by a regular pull (and why). */
export interface UpdateResult {
  action: 'none' | 'delta' | 'pull';
  imageId: string;
  /** The basis image, as given or chosen by the policy: for 'delta', and for 'pull' when there was one. */
  from?: string;
  /** Why the delta path was abandoned, when `action` is 'pull'. */
  reason?: string;
  deltaBytes?: number;
}

/**
 * Updates the engine's image `to` the way a fleet device should: nothing when it is there
 * already (with `movingTag`, when the delta server says `to` still names the image here; else
 * that image is the basis); else pick the basis (`from`, or the policy's choice among the engine's images), ask
 * the delta server for the delta from it (waiting while it is generated),
 * download it with progress and resume, check it, rebuild the new image from the old one the
 * engine has and stream it into `docker load` (no copy of the new image on disk), and check the
 * loaded image's ID. Any failure — server error or timeout, corrupted or wrong-basis delta,
 * apply error — falls back to a regular pull of `to`, and the result says why (a `to` by digest,
 * `app@sha256:…`, is pulled at once: docker load gives tags, never digests); when that pull
 * fails too, the error is a {@link FallbackPullError} carrying both. An engine that is unreachable,
 * or goes away during the apply (dockerd restarted), is waited for (`engineWaitMs`) and the kept
 * delta applied once more before any pull. Options that cannot work
 * (a `deltaUrl` that is no http: URL, a negative timeout) are ERR_INVALID_ARGUMENT at once, and an
 * abort through `signal` is ERR_ABORTED: neither falls back to a pull.
 * @example
 * const r = await updateImage({ engine: new DockerEngine(), from: 'app:1', to: 'registry/app:2', deltaUrl: 'http://deltas:8080/delta' });
 * if (r.action === 'pull') log.warn(`delta update from ${r.from ?? '(no basis)'} failed: ${r.reason}`);
 */
export async function updateImage(opts: UpdateOptions): Promise<UpdateResult> {
  const settings = updateSettings(opts);
  const { engine, to } = opts;
  const wait = new EngineWait(engine, settings.engineWaitMs, opts.signal, (message) => opts.onProgress?.({ phase: 'waiting', message }));
  const present = await wait.call(() => engine.inspectImage(to));
  // A digest reference never moves.
  if (present && (!opts.movingTag || to.includes('@'))) return { action: 'none', imageId: present.Id };
  const policy = opts.from ?? sameRepositoryNewest;
  // A moving tag here: the basis is the image it named when it came, by ID (the tag moves again with this update).
  const from = present ? present.Id : typeof policy === 'string' ? policy : policy(await wait.call(() => engine.listImages()), to);
  // Absolute: calls of this process queue by the directory's path.
  const workDir = resolve(opts.workDir ?? tmpdir());
  await removeStaleUpdates(workDir);
  // docker load names an image by tags alone: `to` would not find the image a delta brought, and
  // the delta's download and apply would end in the pull anyway.
  if (to.includes('@')) return fallBack(opts, wait, from, new RolldeltaError(ErrorCode.UNSUPPORTED, `${to} is a digest reference, which docker load cannot give an image; update to a tag to update by delta`));
  if (!from) return fallBack(opts, wait, undefined, new RolldeltaError(ErrorCode.BASIS_MISMATCH, `no local image can serve as the basis for ${to}`));
  const url = `${opts.deltaUrl}${opts.deltaUrl.includes('?') ? '&' : '?'}from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}${settings.level === undefined ? '' : `&level=${settings.level}`}`;
  if (present && (await serverNamesSame(url, present.Id, settings, opts.signal))) return { action: 'none', imageId: present.Id };
  // Named after the delta's URL, so that an update cut short resumes its download next time.
  const dir = join(workDir, `${UPDATE_DIR_PREFIX}${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
  let wd: UpdateWorkDir;
  try {
    wd = await UpdateWorkDir.lock(dir, { signal: opts.signal, onWait: (message) => opts.onProgress?.({ phase: 'waiting', message }) });
  } catch (e) {
    if (opts.signal?.aborted) throw abortError(e);
    // A work directory that cannot be used (a file, read-only, full) rules the delta out, not the pull.
    return fallBack(opts, wait, from, e);
  }
  // Whether what the directory holds is of no more use: the image is here.
  let done = false;
  try {
    // The update that held the directory before this one may have brought the image.
    const now = await wait.call(() => engine.inspectImage(to));
    if (now && now.Id !== present?.Id) {
      done = true;
      return { action: 'none', imageId: now.Id };
    }
    let result: UpdateResult;
    try {
      result = await viaDelta(opts, settings, from, url, wd);
    } catch (e) {
      if (opts.signal?.aborted) throw abortError(e);
      result = isEngineUnreachable(e) ? await afterEngineLoss(opts, settings, wait, from, url, wd, e) : await fallBack(opts, wait, from, e);
    }
    done = true;
    return result;
  } finally {
    await wd.release({ remove: done });
  }
}

/**
 * Whether the delta server says the pair at `url` goes from image `id` to itself (a HEAD answered
 * 204 naming it): a moving tag that has not moved. Any other answer, or none, is left to the delta
 * path, which waits, retries and falls back as it does for any update.
 */
async function serverNamesSame(url: string, id: string, settings: UpdateSettings, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    const res = await httpGet(url, { head: true, idleTimeoutMs: settings.idleTimeoutMs, signal });
    res.discard();
    return res.status === 204 && res.header('x-image-id') === id;
  } catch (e) {
    if (signal?.aborted) throw abortError(e);
    return false;
  }
}

/**
 * The delta path after the engine went away during it (dockerd stopped or restarted mid save or
 * load), `lost` saying so. A whole delta was kept (viaDelta; none when the engine went away before
 * the download): once the engine answers again, an image `to` that the interrupted load did bring
 * is the result; else the delta path runs once more, with the kept delta and no download, before
 * any pull. An engine that stays away ends in the pull.
 */
async function afterEngineLoss(opts: UpdateOptions, settings: UpdateSettings, wait: EngineWait, from: string, url: string, wd: UpdateWorkDir, lost: unknown): Promise<UpdateResult> {
  if (!(await wait.untilBack())) return fallBack(opts, wait, from, lost);
  try {
    const loaded = await opts.engine.inspectImage(opts.to);
    if (loaded) {
      // Brought by the delta when it is the image the delta makes; else by another hand meanwhile.
      const delta = await deltaFileAt(join(wd.path, DELTA_FILE));
      if (delta?.header?.new.id === loaded.Id) return { action: 'delta', imageId: loaded.Id, from, deltaBytes: delta.bytes };
      return { action: 'none', imageId: loaded.Id };
    }
    return await viaDelta(opts, settings, from, url, wd);
  } catch (e) {
    if (opts.signal?.aborted) throw abortError(e);
    return fallBack(opts, wait, from, e);
  }
}

/**
 * The regular pull after the delta failed with `deltaError`: the result says why, or both errors
 * are thrown. An engine unreachable for it is waited for (`wait`) first.
 */
async function fallBack(opts: UpdateOptions, wait: EngineWait, from: string | undefined, deltaError: unknown): Promise<UpdateResult> {
  const { engine, to } = opts;
  const reason = errorReason(asError(deltaError));
  opts.onProgress?.({ phase: 'fallback', message: `delta update from ${from ?? '(no basis)'} failed: ${reason}; pulling ${to}` });
  try {
    const pulled = await wait.call(async () => {
      await engine.pullImage(to, { auth: opts.auth, signal: opts.signal });
      return engine.inspectImage(to);
    });
    if (!pulled) throw new RolldeltaError(ErrorCode.REMOTE, `the pull finished but the engine does not have ${to}`);
    return { action: 'pull', imageId: pulled.Id, from, reason };
  } catch (e) {
    if (opts.signal?.aborted) throw abortError(e);
    throw new FallbackPullError(to, deltaError, e);
  }
}

/** ERR_ABORTED for an update stopped through its signal, whatever the step it stopped reported. */
function abortError(e: unknown): RolldeltaError {
  return isRolldeltaError(e) && e.code === ErrorCode.ABORTED ? e : updateAborted(e);
}

/**
 * Runs `run` with a signal that fires after `ms` (then ERR_TIMEOUT, naming `what`) or when
 * `signal` does (then whatever `run` throws for it).
 */
async function withTimeout<T>(ms: number, what: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const step = abortAfter(ms, signal);
  try {
    return await run(step.signal);
  } catch (e) {
    throw step.timedOut() && !signal?.aborted ? new RolldeltaError(ErrorCode.TIMEOUT, `${what} took longer than ${ms} ms`, { cause: e }) : e;
  } finally {
    step.dispose();
  }
}

/** Work directories of updates are named this, then a hash of the delta's URL. */
const UPDATE_DIR_PREFIX = 'rolldelta-update-';
/** An update's partial download left alone this long is abandoned (its images moved on). */
const STALE_UPDATE_MS = 7 * 24 * 3600 * 1000;

/** Removes the work directories of updates untouched for a week, unless an update holds one. */
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
    // lstat: a symlink planted under the prefix is not ours to empty.
    const s = await lstat(path).catch(() => undefined);
    if (!s?.isDirectory() || Date.now() - s.mtimeMs <= STALE_UPDATE_MS) continue;
    // Not from under an update that is using it (which just made its lock, or is waiting for it).
    const wd = await UpdateWorkDir.tryLock(path);
    await wd?.release({ remove: true });
  }
}

/** The delta's file in an update's directory; downloadDelta's part and its note are named after it. */
const DELTA_FILE = 'update.rdimg';
const OLD_FILE = 'old.tar';

async function viaDelta(opts: UpdateOptions, settings: UpdateSettings, from: string, url: string, wd: UpdateWorkDir): Promise<UpdateResult> {
  const { engine, to } = opts;
  const basis = await engine.inspectImage(from);
  if (!basis) throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `the engine does not have ${from}, the image the delta starts from`);
  // Anything else there (the old image's archive, temporary files) was left by a killed run.
  await wd.removeAllBut([DELTA_FILE, `${DELTA_FILE}.part`, `${DELTA_FILE}.part.json`]);
  const deltaPath = join(wd.path, DELTA_FILE);
  const oldPath = join(wd.path, OLD_FILE);
  // One ring of buffers for the download, the save and then the apply, which run one after
  // another: the ones before the apply were still resident, as garbage, at its peak.
  const ring = new ReadRing(ImageArchive.READ_BYTES);
  // A whole delta whose apply was stopped (abort, timeout, the engine gone) is kept for the next
  // try: it was checked against the SHA-256 the server announced. One that failed to apply is not
  // trusted.
  let keepDelta = false;
  try {
    let kept = await keptDelta(deltaPath, basis.Id);
    let deltaBytes: number;
    if (kept) {
      deltaBytes = kept.bytes;
      opts.onProgress?.({ phase: 'download', bytes: deltaBytes, total: deltaBytes, message: `using the whole delta an earlier update left in ${wd.path}; nothing to download` });
    } else {
      deltaBytes = await (opts.limiter ?? defaultDownloadLimiter).run(() =>
        downloadDelta(url, deltaPath, {
          ring,
          requestTimeoutMs: settings.requestTimeoutMs,
          maxBackoffMs: settings.maxBackoffMs,
          retries: settings.retries,
          retryIntervalMs: settings.retryIntervalMs,
          idleTimeoutMs: settings.idleTimeoutMs,
          maxBytes: settings.maxDeltaBytes,
          onProgress: opts.onProgress,
          signal: opts.signal,
        }),
        { signal: opts.signal, onWait: () => opts.onProgress?.({ phase: 'waiting', message: 'other delta downloads are under way (see DownloadLimiter); waiting for one to end' }) },
      );
      kept = { header: await readImageDeltaFileHeader(deltaPath, 'the downloaded image delta'), bytes: deltaBytes };
    }
    const { header } = kept;
    // Checked before the old image is saved, which takes long for a large one.
    if (header.old.id !== basis.Id) {
      throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `the delta starts from image ${header.old.id}, but ${from} is ${basis.Id}; the server's ${from} is not this device's`);
    }
    opts.onProgress?.({ phase: 'apply', message: `rebuilding ${to} (${header.new.id}) from ${from}` });
    try {
      await saveBasis(engine, from, basis.Id, oldPath, { signal: opts.signal, ring });
      const omitOldLayers = await mayOmitOldLayers(engine);
      await withTimeout(settings.applyTimeoutMs, 'applying the delta', opts.signal, (signal) =>
        applyImageDelta(oldPath, deltaPath, (chunks) => engine.loadImage(chunks, { signal }), {
          omitOldLayers,
          // `to` alone: the tags the delta lists would move any image on the device to its image.
          repoTags: loadTags(to),
          reuseChunks: true,
          ring,
          workers: settings.workers,
          beforeJavaScriptWork: opts.beforeJavaScriptWork,
          signal,
          scratchDir: dirname(oldPath), // compressed old layers decompressed in workDir, not a tmpfs /tmp
          onProgress: opts.onProgress && ((p) => opts.onProgress?.({ phase: 'apply', bytes: p.bytesOut })),
        }),
      );
      const loaded = await engine.inspectImage(to);
      if (loaded?.Id !== header.new.id) {
        throw new RolldeltaError(ErrorCode.CHECKSUM, `after loading, ${to} is ${loaded?.Id ?? 'missing'} instead of ${header.new.id}`);
      }
      return { action: 'delta', imageId: loaded.Id, from, deltaBytes };
    } catch (e) {
      // isEngineUnreachable: dockerd stopped or restarted mid save or load, nothing the delta did.
      keepDelta = opts.signal?.aborted === true || isEngineUnreachable(e) || (isRolldeltaError(e) && (e.code === ErrorCode.ABORTED || e.code === ErrorCode.TIMEOUT));
      throw e;
    }
  } finally {
    // The old image's archive is large, and saved again in no time compared with a download.
    await rm(oldPath, { force: true });
    if (!keepDelta) await rm(deltaPath, { force: true });
  }
}

/** The tag `docker load` gives the rebuilt image: `to` (never a digest reference), `:latest` when it has no tag. */
function loadTags(to: string): string[] {
  return [to.lastIndexOf(':') > to.lastIndexOf('/') ? to : `${to}:latest`];
}

/**
 * The whole delta an earlier run left at `path`, when it starts from the image `basisId` (a
 * basis tag moved since is downloaded for again). Removed if it is not, or cannot be read.
 */
async function keptDelta(path: string, basisId: string): Promise<{ header: ImageDeltaHeader; bytes: number } | undefined> {
  const delta = await deltaFileAt(path);
  if (!delta) return undefined;
  const { header, bytes } = delta;
  if (header?.old.id === basisId) return { header, bytes };
  await rm(path, { force: true });
  return undefined;
}

/** The delta file at `path`: its size and header (none when it cannot be read as one), or undefined when there is no file. */
async function deltaFileAt(path: string): Promise<{ header: ImageDeltaHeader | undefined; bytes: number } | undefined> {
  const s = await stat(path).catch(() => undefined);
  if (!s?.isFile()) return undefined;
  return { header: await readImageDeltaFileHeader(path, 'the downloaded image delta').catch(() => undefined), bytes: s.size };
}
