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
