import { availableParallelism, totalmem } from 'node:os';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { checkLevel } from '../format/level.js';
import { resolveWorkerCount, type WorkerCount } from '../stream/worker-count.js';
import { checkByteLimit, checkMilliseconds, shown } from './_option-checks.js';
import { MAX_TIMER_MS } from './_update-abort.js';
import type { UpdateOptions } from './update-image.js';

/** An update's numbers, checked and with their defaults filled in. */
export interface UpdateSettings {
  requestTimeoutMs: number;
  retries: number;
  retryIntervalMs: number;
  idleTimeoutMs: number;
  maxBackoffMs: number;
  applyTimeoutMs: number;
  engineWaitMs: number;
  /** The level to ask the server for, if any: 6 unless given on a device of less than {@link SMALL_DEVICE_BYTES}. */
  level: number | undefined;
  maxDeltaBytes: number | undefined;
  /** Threads unpacking level 9 frames in the apply: as given, else 2 on a device of two cores and {@link SPARE_MEMORY_BYTES}, else 1. */
  workers: WorkerCount;
}

/**
 * Checks what a caller passed to `updateImage` before anything runs: a programming error is
 * ERR_INVALID_ARGUMENT at once, never retried like a network error nor turned into a pull.
 * @example
 * const { retries, applyTimeoutMs } = updateSettings(opts); // 30 and 600_000 when not given
 */
export function updateSettings(opts: UpdateOptions): UpdateSettings {
  const invalid = (message: string) => new RolldeltaError(ErrorCode.INVALID_ARGUMENT, message);
  if (typeof opts.from === 'string' ? opts.from === '' || /[\s\0]/.test(opts.from) : opts.from !== undefined && typeof opts.from !== 'function') {
    throw invalid(`from must be an image reference (non-empty, no spaces) or a policy function, got ${JSON.stringify(opts.from) ?? typeof opts.from}`);
  }
  checkDeltaUrl(opts.deltaUrl);
  resolveWorkerCount(opts.workers); // refused here, not by the apply (which would fall back to a pull)
  if (opts.workDir !== undefined && (typeof opts.workDir !== 'string' || opts.workDir === '')) {
    throw invalid(`workDir must be a directory's path, got ${JSON.stringify(opts.workDir) ?? typeof opts.workDir}`);
  }
  const retries = opts.retries ?? 30;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) {
    throw invalid(`retries must be a whole number >= 0 (download attempts in all; 0 and 1 try once), got ${shown(retries)}`);
  }
  const maxDeltaBytes = opts.maxDeltaBytes === undefined ? undefined : checkByteLimit('maxDeltaBytes', opts.maxDeltaBytes);
  const ms = (name: keyof UpdateOptions & `${string}Ms`, fallback: number, max: number, min = 0): number => checkMilliseconds(name, opts[name] ?? fallback, min, max);
  return {
    requestTimeoutMs: ms('requestTimeoutMs', 60_000, Number.MAX_SAFE_INTEGER),
    retries,
    retryIntervalMs: ms('retryIntervalMs', 10_000, MAX_TIMER_MS),
    idleTimeoutMs: ms('idleTimeoutMs', 30_000, MAX_TIMER_MS),
    maxBackoffMs: ms('maxBackoffMs', 30_000, MAX_TIMER_MS),
    applyTimeoutMs: ms('applyTimeoutMs', 600_000, MAX_TIMER_MS, 1), // 0 would time out at once: every update a pull
    engineWaitMs: ms('engineWaitMs', 60_000, MAX_TIMER_MS),
    level: opts.level === undefined ? (deviceMemoryBytes() < SMALL_DEVICE_BYTES ? 6 : undefined) : checkLevel(opts.level),
    maxDeltaBytes,
    workers: opts.workers ?? (deviceMemoryBytes() >= SPARE_MEMORY_BYTES && availableParallelism() >= 2 ? 2 : 1),
  };
}

/**
 * Memory below which an update asks for level 6 unless given a level: a level 9 apply of much new
 * content peaks at ~90 MiB RSS (46 MiB of it the patch's own). Where Node's own pages count
 * against the limit too, a 64 MiB cgroup applying a delta with 4 MiB of new content (1 MiB
 * context-mixing frames) spent 11 minutes reclaiming and refaulting them, 2.8 s of them in
 * JavaScript, with no OOM kill, and its apply timeout never fired (one frame's decode is one
 * synchronous step): the update neither ended nor fell back. Its level 6 delta applied in 4 s.
 */
export const SMALL_DEVICE_BYTES = 128 << 20;

/**
 * Memory from which an update unpacks a level 9 delta's frames on two worker threads unless told
 * otherwise (with two cores or more): the threads start only for a delta of several frames of
 * much new content, where they take ~0.6x the time (the bench image's extra package: 5.4-5.7 s
 * instead of 8.8-9.7), for ~70 MiB more while the apply runs.
 */
export const SPARE_MEMORY_BYTES = 2 ** 31;

/** The memory this process may use: the machine's, or less when a cgroup limits it. */
function deviceMemoryBytes(): number {
  // The cgroup's limit (v1 or v2); 0, or a huge number, when there is none.
  const limit = process.constrainedMemory();
  return Math.min(totalmem(), limit > 0 ? limit : Number.POSITIVE_INFINITY);
}

function checkDeltaUrl(url: unknown): void {
  if (!isHttpUrl(url)) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `deltaUrl must be an http: or https: URL such as http://deltas:8080/delta, got ${JSON.stringify(url) ?? typeof url}`);
  }
}

/** Whether `url` is an http: or https: URL, the only kind a delta is downloaded from. */
export function isHttpUrl(url: unknown): boolean {
  try {
    const { protocol } = new URL(typeof url === 'string' ? url : '');
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
