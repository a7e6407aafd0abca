import { setMaxListeners } from 'node:events';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { checkLevel } from '../format/level.js';
import { BasisCache } from '../image/basis-cache.js';
import { diffImages } from '../image/diff-images.js';
import { fileVersionOf, perFileVersion, type PerVersion } from '../stream/file-version.js';
import { resolveWorkerCount, type WorkerCount } from '../stream/worker-count.js';
import { ArchiveCache, keepArchivesOf } from './_archive-cache.js';
import { ArchivesByImageId, isImageIdRef } from './_archives-by-image-id.js';
import { ConcurrencyLimit } from './_concurrency-limit.js';
import { FailureMemory, type Refusal } from './_failure-memory.js';
import { checkCount, checkMilliseconds } from './_option-checks.js';
import { SentDeltaCheck } from './_sent-delta-check.js';
import { checkStoredDelta, type StoredDeltaCheck } from './_stored-delta-check.js';
import type { DeltaStore } from './delta-store.js';
import type { DockerEngine } from './engine.js';
import { isEngineUnreachable } from './engine-unreachable.js';
import { isRegistryUnavailable } from './registry-unavailable.js';

/** Where the server finds image archives (`docker save` or OCI) by reference. */
export interface DeltaSource {
  /**
   * Path of an archive holding the image `ref`; rejects (ERR_NOT_FOUND) when the source has no such
   * image. `ref` may be an image ID in full (`sha256:…`): a device following a moving tag names its
   * own image so; the sources here find images by ID (see each), and one that cannot says ERR_NOT_FOUND.
   */
  archive(ref: string): Promise<string>;
  /**
   * Optional and cheap (a stat, an inspect; no archive written): rejects with ERR_NOT_FOUND when
   * the source has no image `ref`. The server asks it before starting a generation (where
   * `imageId` cannot tell, or is missing), so that a request for a missing image is answered 404
   * at once instead of 202 and then a failure.
   */
  checkImage?(ref: string): Promise<void>;
  /**
   * Optional and cheap (an inspect, a manifest read, an archive's index read once per version of
   * its file): the ID (`sha256:` of its config) of the image `ref` names now. With it, a stored
   * delta is served only while its references still name the images it was made between: one made
   * before a tag moved (re-pushed, re-tagged, its archive replaced) is removed and made again,
   * where it would have rebuilt the image the tag named before. When it cannot tell (the image
   * gone, its engine or registry away), the stored delta is served. Before a generation it is the
   * server's one question per reference (ERR_NOT_FOUND: 404 at once), and a pair whose references
   * name one image is answered 204, nothing made.
   */
  imageId?(ref: string): Promise<string>;
}

/**
 * What the server did, for a log ({@link DeltaServerOptions.onEvent}). `level` is the level of a
 * generation; in a request, the one the device asked for (none when it left it to the server).
 * `ms` is how long the request or generation took.
 */
export type DeltaServerEvent =
  | {
      type: 'request';
      method: string;
      /** The query's pair; absent when the request was refused before it was read (400, 404, 405). */
      from?: string;
      to?: string;
      level?: number;
      status: number;
      /** An error answer's reason (the first line of its text), for the log. */
      reason?: string;
      /**
       * Delta bytes read for the answer (an aborted download's may include some never sent, and a
       * range's those before it read to check its frames).
       */
      bytes: number;
      /** False when the connection closed before the whole answer was sent. */
      complete: boolean;
      ms: number;
    }
  /** A generation waits for one of `maxGenerations` to end; `ahead` are waiting before it. */
  | { type: 'generation-queued'; from: string; to: string; level: number; ahead: number }
  | { type: 'generation-started'; from: string; to: string; level: number }
  | { type: 'generation-finished'; from: string; to: string; level: number; bytes: number; ms: number }
  | { type: 'generation-failed'; from: string; to: string; level: number; reason: string; ms: number }
  /**
   * A stored delta whose frames fail their checks (damaged on the server's disk) was removed, and
   * is made again: devices asking meanwhile are told 202. Found when the server first reads it, or
   * while it sends it (the reason then ends "found while sending it"; that answer is cut off).
   */
  | { type: 'delta-damaged'; from: string; to: string; level: number; reason: string }
  /**
   * A stored delta made between other images than its references name now (a tag moved: see
   * {@link DeltaSource.imageId}) was removed, and is made again: devices asking meanwhile are told 202.
   */
  | { type: 'delta-outdated'; from: string; to: string; level: number; reason: string }
  /** Least recently used deltas removed to keep the store within its `maxBytes`. */
  | { type: 'deltas-removed'; files: number; bytes: number; maxBytes: number };

export interface DeltaServerOptions {
  source: DeltaSource;
  store: DeltaStore;
  /** Seconds a device is told to wait (Retry-After) while a delta is generated; default 2. */
  retryAfterSeconds?: number;
  /**
   * Level of generated deltas, 0-9; default 9 (context mixing: the smallest deltas, decoded at
   * about 0.7 MB/s of new content). A device may ask for another with `&level=N` (a slow CPU
   * asks for 6: deflate, which decodes hundreds of times faster, for a larger delta); each level
   * of a pair is generated and stored once.
   */
  level?: number;
  /**
   * Threads indexing an old image and, at level 9, packing frames (see diffImages); default
   * 'auto' (one per core). With more than one, every frame of note is context-mixed off the event
   * loop (keepEventLoopFree): with 1, a level 9 generation of 1.5 MB of new content held the
   * service's other requests (downloads, a host service's health check) for 2.4 s (29 ms with 'auto').
   */
  workers?: WorkerCount;
  /** Old images kept indexed in memory between generations; default 2 (0 turns it off). */
  cachedBases?: number;
  /**
   * Generations running at once; default 2. Each holds its old image's layers and their index
   * (~2.5x the old image), so ten devices asking for ten pairs at once held ten; the others wait
   * their turn (a `generation-queued` event), their devices told 202 as for a running one. A
   * device gives up and pulls after its `requestTimeoutMs` (60 s by default): a server expecting
   * long queues tells devices to wait longer.
   */
  maxGenerations?: number;
  /**
   * Milliseconds a failed generation is remembered; default 30 000. Every request for the pair
   * (and level) meanwhile is answered with the failure (500, or 404 for a missing image) and its
   * reason, without a new generation; the first request after it starts one again. 0 reports a
   * failure to one request only. A generation whose Docker Engine went away (restarting) is
   * answered 503 with Retry-After instead, for `retryAfterSeconds` at most.
   */
  keepFailureMs?: number;
  /**
   * Called with what the server does: each request answered (when its connection is done with it),
   * each generation started, finished or failed (with its reason). An exception it throws is
   * ignored: logging never breaks serving.
   * @example
   * createDeltaServer({ source, store, onEvent: (e) => console.log(JSON.stringify(e)) });
   */
  onEvent?: (event: DeltaServerEvent) => void;
}

/** The server's HTTP handler and its ahead-of-time generator. */
export interface DeltaServer {
  /**
   * A node:http request handler for `GET|HEAD /delta?from=&to=[&level=]`; any other path is
   * answered 404. Mounted under a prefix in a larger service, strip the prefix from `req.url`
   * first (Express's `app.use('/ota', server.handler)` does so itself).
   * @example
   * http.createServer((req, res) => {
   *   if (req.url?.startsWith('/ota/')) { req.url = req.url.slice(4); return server.handler(req, res); }
   *   app(req, res); // the rest of the service; devices use deltaUrl 'http://host/ota/delta'
   * });
   */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Generates (or finds) the delta for a pair now, e.g. at build time; resolves to its size.
   * `level` as a device would ask for it (default the server's).
   */
  generate(from: string, to: string, level?: number): Promise<number>;
  /** Generations started so far (one per pair and level, however many devices asked). */
  readonly generations: number;
  /** Indexes of popular old images, reused across pairs. */
  readonly basisCache: BasisCache | undefined;
  /**
   * Stops: no new generations (a request for a delta not stored is answered 503, `generate`
   * rejects with ERR_ABORTED), running ones aborted (their temporary files removed); resolves when
   * they have ended. Stored deltas are still served; close the HTTP server to stop that.
   * @example
   * process.on('SIGTERM', async () => { httpServer.close(); await server.close(); });
   */
  close(): Promise<void>;
}

const MAX_REF = 512;

function refOf(url: URL, name: string): string {
  const v = url.searchParams.get(name);
  if (!v || v.length > MAX_REF) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `the query needs ${name}=<image reference> (at most ${MAX_REF} characters)`);
  return v;
}

/** The reason a person reads, with the code a program switches on. */
const reasonOf = (e: unknown) => (isRolldeltaError(e) ? `${e.message} (${e.code})` : String((e as Error)?.message ?? e));

const isNotFound = (e: unknown) => isRolldeltaError(e) && e.code === ErrorCode.NOT_FOUND;

/** One generation per pair and level: what `running` and `failures` are keyed by. */
const jobKey = (from: string, to: string, variant: number | undefined) => `${from}\0${to}\0${variant ?? ''}`;

/** The `level` a device asks for (0-9), or undefined when it leaves it to the server. */
function levelOf(url: URL): number | undefined {
  const v = url.searchParams.get('level');
  if (v === null) return undefined;
  if (!/^[0-9]$/.test(v)) throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `level must be a digit from 0 to 9, got ${JSON.stringify(v.slice(0, 20))}`);
  return Number(v);
}

/**
 * Reads a `Range` header against a file of `size` bytes (RFC 9110 14.1.2): `bytes=N-`, `bytes=N-M`
 * and the last N bytes, `bytes=-N`. A range starting past the end is 'unsatisfiable' (416); a header
 * this server does not serve — several ranges, `bytes=5-3`, another unit — is ignored, as the RFC
 * lets a server do (undefined: the whole file, 200).
 */
function rangeOf(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
}

/**
 * An HTTP delta server (node:http, no framework): `GET /delta?from=A&to=B` answers 200 with the
 * image delta when it exists (Range requests give 206, so devices resume; `x-delta-sha256` carries
 * the whole delta's SHA-256 for the device to check), and 202 with
 * Retry-After while it is generated on demand: one generation per pair, however many devices ask
 * at once. `&level=N` (0-9) asks for a delta made at that level instead of the server's (a device
 * too slow to decode context mixing asks for 6). `HEAD` tells the size before a download. A pair
 * whose references name the same image now ({@link DeltaSource.imageId}) answers 204 with
 * `x-image-id`, nothing made: a device following a moving tag asks from the image it has (`from`
 * its ID, `sha256:…`) at every check. An image
 * the source does not have answers 404 naming it: at once when the source can tell cheaply
 * ({@link DeltaSource.checkImage}), else after the generation finds out. A failed generation
 * answers 500 with the reason to every request for `keepFailureMs`, and the next request after
 * that tries again; a source whose Docker Engine is unreachable (restarting) or whose registry is
 * unavailable ({@link RegistryUnavailableError}: 429, 502-504, refused or stalled), 503 with
 * Retry-After, which devices wait through for their `requestTimeoutMs` (a socket that stays
 * missing looks the same: check the engine with `ping()` before serving, as `rolldelta serve
 * --engine` does); a bad query, 400.
 * @example
 * const server = createDeltaServer({ source: archiveDirectory('/srv/images'), store: new DeltaStore('/srv/deltas') });
 * http.createServer(server.handler).listen(8080);
 */
export function createDeltaServer(opts: DeltaServerOptions): DeltaServer {
  const running = new Map<string, Promise<number>>();
  // Checked here, not at the first generation: a bad value would answer every device 500.
  if (typeof opts.source?.archive !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'source must be a DeltaSource (archiveDirectory, engineArchives, registryArchives)');
  if (typeof opts.store?.removeStaleTempFiles !== 'function') throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, 'store must be a DeltaStore');
  const workers = opts.workers ?? 'auto';
  resolveWorkerCount(workers);
  const failures = new FailureMemory(checkMilliseconds('keepFailureMs', opts.keepFailureMs ?? 30_000));
  const closing = () => new RolldeltaError(ErrorCode.ABORTED, 'the delta server is closing: it starts no generation');
  const turns = new ConcurrencyLimit(opts.maxGenerations ?? 2, { what: 'maxGenerations', aborted: closing });
  let generations = 0;
  const stopping = new AbortController();
  // Each generation waiting its turn listens for the close: past 10 Node warned of a possible
  // leak ("MaxListenersExceededWarning") in the operator's log, though each goes with its turn.
  setMaxListeners(0, stopping.signal);
  const emit = (e: DeltaServerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a log that fails must not fail the request or the generation
    }
  };
  // A process killed while generating leaves temporary files; the first generation waits for this.
  // Swept again as each generation starts: a server restarted at once after the kill (systemd, an
  // OOM kill at each try) found them too new to remove, and kept them for as long as it ran.
  let swept = opts.store.removeStaleTempFiles().catch(() => 0);
  const retryAfter = String(checkCount('retryAfterSeconds', opts.retryAfterSeconds ?? 2));
  /** A 503's Retry-After (ask again then), none for a refusal that stands. */
  const retryAfterFor = (status: number): Record<string, string> => (status === 503 ? { 'retry-after': retryAfter } : {});
  /** The digest and frame check of each stored delta, by path, with the version of the file it is of. */
  const digests = new Map<string, PerVersion<StoredDeltaCheck>>();
  const cachedBases = checkCount('cachedBases', opts.cachedBases ?? 2);
  const basisCache = cachedBases === 0 ? undefined : new BasisCache(cachedBases);
  const serverLevel = checkLevel(opts.level ?? 9);
  /** The store's name for a level: none for the server's own, so its deltas keep their names. */
  const variantOf = (level: number | undefined) => (level === undefined || level === serverLevel ? undefined : level);

  /**
   * SHA-256 of a stored delta and the check of its frames, from one read of it per version of the
   * file (its size, mtime, ctime and inode: a delta regenerated at the same size is a new version),
   * once however many requests ask for it at the same time.
   */
  function digestOf(path: string, st: Stats): Promise<StoredDeltaCheck> {
    return perFileVersion(digests, path, st, () => checkStoredDelta(path)); // a failed read is read again
  }

  function start(from: string, to: string, variant: number | undefined): Promise<number> {
    const key = jobKey(from, to, variant);
    let job = running.get(key);
    if (job) return job;
    if (stopping.signal.aborted) return Promise.reject(closing());
    generations++;
    failures.forget(key);
    const level = variant ?? serverLevel;
    let t0 = Date.now();
    let began = false;
    const failed = (e: unknown) => emit({ type: 'generation-failed', from, to, level, reason: reasonOf(e), ms: Date.now() - t0 });
    async function makeDelta(): Promise<number> {
      await opts.store.init();
      await swept;
      swept = opts.store.removeStaleTempFiles().catch(() => 0);
      const [oldPath, newPath] = await Promise.all([opts.source.archive(from), opts.source.archive(to)]);
      const path = opts.store.pathFor(from, to, variant);
      const s = await diffImages(oldPath, newPath, path, {
        level,
        basisCache,
        workers,
        // Other devices' downloads stream from this event loop meanwhile.
        keepEventLoopFree: true,
        signal: stopping.signal,
      });
      opts.store.used(path);
      // A store that cannot be tidied still serves what it has.
      const removed = await opts.store.evict(path).catch(() => undefined);
      // Their digests too: one per delta ever served stayed (~0.6 KB each) in a store of bounded size.
      for (const p of removed?.paths ?? []) digests.delete(p);
      if (removed?.files) emit({ type: 'deltas-removed', files: removed.files, bytes: removed.bytes, maxBytes: opts.store.maxBytes! });
      return s.deltaBytes;
    }
    const onWait = () => emit({ type: 'generation-queued', from, to, level, ahead: turns.queued });
    // Its end is told before its turn passes on, so a log reads in order.
    job = turns.run(
      async () => {
        t0 = Date.now();
        began = true;
        emit({ type: 'generation-started', from, to, level });
        try {
          const bytes = await makeDelta();
          emit({ type: 'generation-finished', from, to, level, bytes, ms: Date.now() - t0 });
          return bytes;
        } catch (e) {
          failed(e);
          throw e;
        }
      },
      { signal: stopping.signal, onWait },
    );
    running.set(key, job);
    job.then(
      () => running.delete(key),
      (e) => {
        running.delete(key);
        if (!began) failed(e); // closed while it waited its turn
        // An engine away (restarting): 503 until the devices' next ask, not 500 for keepFailureMs,
        // which sent every device asking meanwhile to pull; remembered even so, or every poll would
        // start a generation (a save cut short each time, the engine answering inspect all along).
        // A registry busy or away (429, 502-504, a refused or stalled connection) likewise: its
        // hiccup would otherwise send the fleet to pull from it.
        if (isEngineUnreachable(e)) failures.remember(key, { status: 503, message: `the delta server's Docker Engine went away while it made the delta (restarting?); ask again: ${reasonOf(e)}` }, Date.now(), Number(retryAfter) * 1000);
        else if (isRegistryUnavailable(e)) failures.remember(key, { status: 503, message: `the delta server's registry was unavailable while it made the delta; ask again: ${reasonOf(e)}` }, Date.now(), Number(retryAfter) * 1000);
        else failures.remember(key, isNotFound(e) ? { status: 404, message: `not found: ${reasonOf(e)}` } : { status: 500, message: `generating the delta failed: ${reasonOf(e)}` });
      },
    );
    return job;
  }

  /**
   * Asks the source whether it has both images, when it can tell cheaply (its `imageId`, else its
   * `checkImage`): a refusal, 404 for those it has not, 503 when its Docker Engine is unreachable
   * (restarting: devices wait and ask again, where a 500 sent every device asking meanwhile to
   * pull) or its registry unavailable (busy, away), 500 when it could not say otherwise; or, with
   * `imageId`, the image both name when they name one (nothing to make); neither to go on and
   * generate. One question per reference: a fleet's checks from a moving tag ask at every poll.
   */
  async function checkImages(from: string, to: string): Promise<{ refusal?: Refusal; same?: string }> {
    const idOf = opts.source.imageId?.bind(opts.source);
    const check = opts.source.checkImage?.bind(opts.source);
    if (!idOf && !check) return {};
    /** The image's ID where `imageId` tells it; undefined where only `checkImage` could say it is there. */
    const ask = async (ref: string): Promise<string | undefined> => {
      if (!idOf) return void (await check!(ref));
      try {
        return await idOf(ref);
      } catch (e) {
        if (isNotFound(e) || isEngineUnreachable(e) || isRegistryUnavailable(e)) throw e;
        // Present, but its ID unreadable (a damaged archive): as before imageId, the generation says why.
        if (check) await check(ref);
        return undefined;
      }
    };
    const refs = from === to ? [from] : [from, to];
    const results = await Promise.allSettled(refs.map(ask));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length === 0) {
      const ids = results.map((r) => (r as PromiseFulfilledResult<string | undefined>).value);
      return ids[0] !== undefined && ids.every((id) => id === ids[0]) ? { same: ids[0] } : {};
    }
    const missing = errors.filter(isNotFound);
    if (missing.length > 0) return { refusal: { status: 404, message: missing.map((e) => `not found: ${reasonOf(e)}`).join('\n') } };
    const away = errors.find(isEngineUnreachable);
    if (away) return { refusal: { status: 503, message: `the delta server's Docker Engine is unreachable (restarting?); ask again: ${reasonOf(away)}` } };
    const busy = errors.find(isRegistryUnavailable);
    if (busy) return { refusal: { status: 503, message: `the delta server's registry is unavailable; ask again: ${reasonOf(busy)}` } };
    return { refusal: { status: 500, message: errors.map((e) => `checking the images failed: ${reasonOf(e)}`).join('\n') } };
  }

  async function generate(from: string, to: string, level?: number): Promise<number> {
    const variant = variantOf(level === undefined ? undefined : checkLevel(level));
    return (await soundStat(from, to, variant))?.size ?? start(from, to, variant);
  }

  /** What a request's log event says of it, filled in as it is answered. */
  interface Seen {
    from?: string;
    to?: string;
    level?: number;
    file?: { bytesRead: number };
    /** The first line of an error answer's text. */
    reason?: string;
  }

  /** Answers `status` with a line of text, which an error answer's log event quotes. */
  function answerText(res: ServerResponse, seen: Seen, status: number, text: string, headers: Record<string, string> = {}): void {
    if (status >= 400) seen.reason = text.split('\n')[0];
    res.writeHead(status, { ...headers, 'content-type': 'text/plain' }).end(`${text}\n`);
  }

  /**
   * The stored delta's file status, or undefined when there is none to serve: a copy damaged on the
   * server's disk is removed to be made again, rather than served to every device, each to find it
   * damaged and pull; so is one made between other images than `from` and `to` name now. Rejects
   * (ERR_CORRUPT, ERR_IO) when it cannot be removed.
   */
  async function soundStat(from: string, to: string, variant: number | undefined): Promise<Stats | undefined> {
    const path = opts.store.pathFor(from, to, variant);
    for (;;) {
      const st = await opts.store.stat(from, to, variant);
      if (st === undefined) return undefined;
      const { damage, images } = await digestOf(path, st);
      if (damage !== undefined) {
        await removeStored(from, to, variant, st, 'damaged', damage);
        continue;
      }
      const moved = images && (await movedSince(from, to, images));
      if (moved === undefined) return st;
      await removeStored(from, to, variant, st, 'outdated', moved);
    }
  }

  /**
   * Which of `from` and `to` names another image now than the stored delta goes between, in words;
   * undefined while both still name theirs, or where the source cannot tell.
   */
  async function movedSince(from: string, to: string, images: { old: string; new: string }): Promise<string | undefined> {
    const idOf = opts.source.imageId?.bind(opts.source);
    if (!idOf) return undefined;
    const [fromId, toId] = await Promise.all([from, to].map((ref) => idOf(ref).catch(() => undefined)));
    if (toId !== undefined && toId !== images.new) return `${to} names image ${toId} now, not ${images.new}`;
    if (fromId !== undefined && fromId !== images.old) return `${from} names image ${fromId} now, not ${images.old}`;
    return undefined;
  }

  /**
   * Removes version `st` of a stored delta found damaged or outdated (not one made since), forgets
   * its check and tells the log, so that the next request starts making it again. Rejects when it
   * cannot be removed: ERR_CORRUPT for a damaged one, whose check then says damaged, so that
   * requests answer that without reading it again; ERR_IO for an outdated one.
   */
  async function removeStored(from: string, to: string, variant: number | undefined, st: Stats, kind: 'damaged' | 'outdated', why: string): Promise<void> {
    const path = opts.store.pathFor(from, to, variant);
    const version = fileVersionOf(st);
    const reason = `the stored delta ${path} is ${kind}: ${why}`;
    const now = await stat(path).catch(() => undefined);
    if (now === undefined || fileVersionOf(now) !== version) return; // removed, or made again, meanwhile
    const known = digests.get(path);
    /** Whether the cache still holds this version's check (not a newer one's made meanwhile). */
    const holdsKnown = () => known !== undefined && known.version === version && digests.get(path) === known;
    try {
      await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Kept as damaged, not forgotten: else every request read it whole again to find it so.
        if (kind === 'damaged' && holdsKnown()) digests.set(path, { version, value: known!.value.then((check) => ({ ...check, damage: why })) });
        throw new RolldeltaError(kind === 'damaged' ? ErrorCode.CORRUPT : ErrorCode.IO, `${reason}, and the server cannot remove it to make it again: ${(e as Error).message}`, { cause: e });
      }
      if (holdsKnown()) digests.delete(path);
      return; // removed meanwhile, by another request that found it damaged or outdated
    }
    if (holdsKnown()) digests.delete(path);
    emit({ type: kind === 'damaged' ? 'delta-damaged' : 'delta-outdated', from, to, level: variant ?? serverLevel, reason });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, seen: Seen): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://delta-server');
    if (url.pathname !== '/delta') return answerText(res, seen, 404, 'not found: use /delta?from=&to=');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    let from: string;
    let to: string;
    let variant: number | undefined;
    try {
      from = refOf(url, 'from');
      to = refOf(url, 'to');
      seen.from = from;
      seen.to = to;
      seen.level = levelOf(url);
      variant = variantOf(seen.level);
    } catch (e) {
      return answerText(res, seen, 400, (e as Error).message);
    }
    const st = await soundStat(from, to, variant);
    if (st === undefined) {
      if (stopping.signal.aborted) return answerText(res, seen, 503, 'the delta server is closing; ask again', retryAfterFor(503));
      const key = jobKey(from, to, variant);
      // Told to every device for a while (told to one, a failing pair was regenerated at every poll).
      const failed = running.has(key) ? undefined : failures.answerFor(key);
      if (failed) return answerText(res, seen, failed.status, failed.message, retryAfterFor(failed.status));
      // A running generation was checked when it started; a missing image starts none.
      const { refusal, same } = running.has(key) ? {} : await checkImages(from, to);
      if (refusal) return answerText(res, seen, refusal.status, refusal.message, retryAfterFor(refusal.status));
      // A device following a moving tag asks from the image it has: nothing to make while the tag names it.
      if (same !== undefined) return void res.writeHead(204, { 'x-image-id': same }).end();
      start(from, to, variant).catch(() => {}); // the failure is reported to the requests that follow
      return answerText(res, seen, 202, 'the delta is being generated; ask again', { 'retry-after': retryAfter });
    }
    const path = opts.store.pathFor(from, to, variant);
    opts.store.used(path);
    const size = st.size;
    const range = rangeOf(req.headers.range, size);
    if (range === 'unsatisfiable') return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    const stored = await digestOf(path, st);
    const headers = {
      'content-type': 'application/vnd.rolldelta.image-delta',
      'accept-ranges': 'bytes',
      'x-delta-sha256': stored.sha256,
    };
    if (range) res.writeHead(206, { ...headers, 'content-length': range.end - range.start + 1, 'content-range': `bytes ${range.start}-${range.end}/${size}` });
    else res.writeHead(200, { ...headers, 'content-length': size });
    if (req.method === 'HEAD') return void res.end();
    // Checked again as it goes: damage that came after the stored check (bit rot) stops the answer.
    const sent = new SentDeltaCheck(stored, range?.start ?? 0, range ? range.end + 1 : size, size);
    // To the announced end, never past it: the check takes the SHA-256 there.
    const file = createReadStream(path, { start: sent.readFrom, end: range ? range.end : Math.max(0, size - 1) });
    seen.file = file;
    // pipeline, not pipe: a download cut short closes the file too (else one fd leaks per abort).
    pipeline(file, sent, res, () => {
      if (sent.damage === undefined) return;
      // One that cannot be removed stays known as damaged: the next request answers 500 saying so.
      removeStored(from, to, variant, st, 'damaged', `${sent.damage}, found while sending it`).catch(() => {});
    });
  }

  return {
    handler(req, res) {
      const t0 = Date.now();
      const seen: Seen = {};
      if (opts.onEvent) {
        res.on('close', () =>
          emit({ type: 'request', method: req.method ?? '', from: seen.from, to: seen.to, level: seen.level, status: res.statusCode, reason: seen.reason, bytes: seen.file?.bytesRead ?? 0, complete: res.writableFinished, ms: Date.now() - t0 }),
        );
      }
      handle(req, res, seen).catch((e) => {
        if (!res.headersSent) answerText(res, seen, 500, (e as Error).message);
        else res.destroy();
      });
    },
    generate,
    get generations() {
      return generations;
    },
    basisCache,
    async close() {
      stopping.abort();
      await Promise.allSettled([...running.values()]);
    },
  };
}

/**
 * The file name {@link archiveDirectory} looks for: `app:2` is `app_2.tar`, every character other
 * than ASCII letters, digits, `.`, `-` and `_` replaced by `_`.
 * @example
 * archiveFileName('reg.io:5000/team/app:1.2'); // 'reg.io_5000_team_app_1.2.tar'
 */
export function archiveFileName(ref: string): string {
  return `${ref.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`;
}

/**
 * A source of image archives in a directory: `ref` `app:2` is the file `app_2.tar` (see
 * {@link archiveFileName}); an image without its file is ERR_NOT_FOUND, naming the file. An image
 * ID in full (`sha256:…`, as a device following a moving tag names its image) is whichever
 * archive there holds that image (each archive's index read once per version of its file).
 * @example
 * await archiveDirectory('/srv/images').archive('app:2'); // '/srv/images/app_2.tar'
 */
export function archiveDirectory(dir: string): DeltaSource {
  const archives = new ArchivesByImageId(dir);
  async function found(ref: string): Promise<{ path: string; st: Stats }> {
    const path = join(dir, archiveFileName(ref));
    const st = await stat(path).catch(() => undefined);
    if (st) return { path, st };
    // An image ID (a device following a moving tag names its image so): whichever archive holds it.
    const holder = isImageIdRef(ref) ? await archives.find(ref) : undefined;
    if (holder) return holder;
    throw new RolldeltaError(
      ErrorCode.NOT_FOUND,
      isImageIdRef(ref)
        ? `no archive in ${dir} holds image ${ref}`
        : `no archive for image ${ref}: looked for ${path} (the image NAME:TAG is the file NAME_TAG.tar, every character other than A-Z a-z 0-9 . - _ replaced by _); docker save it there`,
    );
  }
  return {
    archive: async (ref) => (await found(ref)).path,
    async checkImage(ref) {
      await found(ref);
    },
    async imageId(ref) {
      const { path, st } = await found(ref);
      return archives.idOf(path, st);
    },
  };
}

/** Options of the sources that cache image archives ({@link engineArchives}, `registryArchives`). */
export interface ArchiveCacheOptions {
  /**
   * Archives kept in the cache folder, the most recently used (default 8): once a new one is
   * written, the others are removed, but none used in the last minute. One asked for again is
   * saved (or downloaded) again.
   */
  keepArchives?: number;
}

/**
 * A source that saves images from a Docker Engine, once each: archives are cached in `dir` (made
 * when missing) by image ID, so a popular base is read from the engine a single time; the
 * `keepArchives` most recently used are kept (default 8). The engine takes an image ID
 * (`sha256:…`) as it takes a tag; one it no longer has (pruned) is still found while its archive
 * is in the cache.
 * @example
 * createDeltaServer({ source: engineArchives(new DockerEngine(), '/srv/cache'), store });
 */
export function engineArchives(engine: DockerEngine, dir: string, opts: ArchiveCacheOptions = {}): DeltaSource {
  const cache = new ArchiveCache(dir, keepArchivesOf(opts.keepArchives));
  /**
   * The ID of the image `ref` names, and for an image ID the engine no longer has (pruned since a
   * moving tag left it) the archive of it kept in the cache, if any.
   */
  async function find(ref: string): Promise<{ id: string; cached?: string }> {
    const info = await engine.inspectImage(ref);
    if (info) return { id: info.Id };
    const kept = isImageIdRef(ref) ? join(dir, `${ref.slice('sha256:'.length)}.tar`) : undefined;
    if (kept !== undefined && (await stat(kept).then((s) => s.isFile(), () => false))) return { id: ref, cached: kept };
    throw new RolldeltaError(ErrorCode.NOT_FOUND, `the Docker Engine at ${engine.socketPath} has no image ${ref}; docker pull or docker load it there`);
  }
  return {
    async checkImage(ref) {
      await find(ref);
    },
    imageId: async (ref) => (await find(ref)).id,
    async archive(ref) {
      const { id, cached } = await find(ref);
      if (cached !== undefined) {
        await cache.used(cached);
        return cached;
      }
      const path = join(dir, `${id.replace(/^sha256:/, '')}.tar`);
      const saved = await stat(path).then(() => false, async () => {
        await mkdir(dir, { recursive: true });
        await engine.saveImagesToFile([ref], path); // by name, so the archive keeps its tag
        return true;
      });
      await cache.used(path);
      if (saved) await cache.prune();
      return path;
    },
  };
}
