import { availableParallelism } from 'node:os';
import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** How many worker threads to use: a count, or 0 / 'auto' for one per available core. */
export type WorkerCount = number | 'auto';

/** Most worker threads rolldelta starts for one operation. */
export const MAX_WORKERS = 64;

/**
 * The number of threads a `workers` option asks for: undefined is 1 (the main thread alone, no
 * workers), 0 and 'auto' are os.availableParallelism(); anything else must be 1..MAX_WORKERS.
 * @example
 * resolveWorkerCount('auto'); // 2 on a two-core machine
 * resolveWorkerCount(undefined); // 1
 */
export function resolveWorkerCount(workers: WorkerCount | undefined): number {
  if (workers === undefined) return 1;
  if (workers === 'auto' || workers === 0) return Math.min(availableParallelism(), MAX_WORKERS);
  if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `workers must be 'auto', 0 or an integer 1..${MAX_WORKERS}, got ${String(workers)}`);
  }
  return workers;
}

/**
 * Input size from which 'auto' starts worker threads for a signature or a diff's index: below it a
 * worker's start (~40-50 ms, on the cores the work itself uses) costs more than the split saves.
 * The CLI on one thread against two (medians of alternating runs on the 2-core VM): signature of 6
 * MB 0.14 s against 0.18, 21 MB 0.18 against 0.21, 64 MiB 0.29 against 0.29, 256 MiB 0.76 against
 * 0.62; diff (two threads filling the index) of 6 MB 0.53 against 0.60, 21 MB 0.31 against 0.37,
 * 34 MB 0.39 against 0.40, 48 MiB 0.50 against 0.51, 64 MiB 0.61 against 0.60.
 */
export const AUTO_WORKERS_FROM = 64 << 20;

/**
 * {@link resolveWorkerCount} for an input of `bytes` bytes (undefined: not known): 'auto' and 0 are
 * 1 below {@link AUTO_WORKERS_FROM}; a count asked for is that count.
 * @example
 * workersForSize('auto', 6e6); // 1
 * workersForSize(2, 6e6); // 2
 */
export function workersForSize(workers: WorkerCount | undefined, bytes: number | undefined): number {
  const auto = workers === 'auto' || workers === 0;
  return auto && bytes !== undefined && bytes < AUTO_WORKERS_FROM ? 1 : resolveWorkerCount(workers);
}
