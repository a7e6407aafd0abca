import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, RolldeltaError, type ErrorCode as ErrorCodeName } from '../core/errors.js';
import { operationAborted } from './abort.js';
import type { WorkerReply, WorkerRequest, WorkerTask } from './_worker-protocol.js';

/**
 * The worker entry file. Built, it sits beside the bundle that imports this module (dist/worker.mjs
 * next to dist/index.js, index.cjs and cli.js); from the TypeScript sources (vitest) the built one is
 * used, since Node 20 cannot start a worker from a .ts file. An application bundled into one file
 * (esbuild, webpack) finds it beside that file: `.mjs`, so it loads as ESM in a CommonJS project too.
 */
function workerEntry(instead: string): URL {
  const beside = new URL('./worker.mjs', moduleUrl());
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/worker.mjs', moduleUrl());
  if (existsSync(fileURLToPath(built))) return built;
  throw new RolldeltaError(
    ErrorCode.IO,
    `the worker entry ${fileURLToPath(beside)} is missing: copy node_modules/rolldelta/dist/worker.mjs beside a bundle that includes rolldelta, or ${instead}`,
  );
}

/** This module's URL; a CommonJS bundle made from ESM (esbuild --format=cjs) has no import.meta.url. */
function moduleUrl(): string {
  if (typeof import.meta.url === 'string') return import.meta.url;
  return pathToFileURL(__filename).href;
}

interface Job {
  id: number;
  task: WorkerTask;
  resolve: (value: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * A fixed set of worker threads running rolldelta's worker tasks: each worker takes one task at a
 * time from a FIFO queue; `run` resolves with that task's result, so awaiting the promises in the
 * order given yields results in order. Nothing is transferred, in either direction: detaching
 * one ArrayBuffer makes V8 check for detached buffers at every typed-array access in that thread
 * from then on (the 256 MiB diff index filled 20% slower, context mixing 18%, measured), so bytes
 * are copied, or shared through SharedArrayBuffers, which are never detached. A worker's
 * failure rejects that task with a RolldeltaError of the worker's code; a crash, close() or an
 * abort rejects every pending task and terminates all the workers. Idle workers do not keep the
 * process alive, but call close() when done.
 * @example
 * const pool = new WorkerPool(2, { signal });
 * try { const sums = await pool.run(task); } finally { await pool.close(); }
 */
export class WorkerPool {
  readonly size: number;
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private readonly workers: Worker[] = [];
  private nextId = 0;
  private failure: RolldeltaError | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: () => void;
  /** What else the caller can do, said when a thread fails. */
  private readonly instead: string;

  /** `withoutThreads`: what the caller can do without threads, said when a thread fails (default: try `workers: 1`). */
  constructor(size: number, opts: { signal?: AbortSignal; withoutThreads?: string } = {}) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `a worker pool needs at least 1 worker, got ${size}`);
    }
    this.size = size;
    this.signal = opts.signal;
    this.instead = opts.withoutThreads ?? 'try workers: 1';
    this.onAbort = () => this.fail(operationAborted(this.signal?.reason));
    if (this.signal?.aborted) {
      this.onAbort();
      return;
    }
    // Found before the listener goes on: a bundle without the entry failed here with the listener
    // left on the caller's signal, holding the pool, one more for every call that failed.
    const entry = workerEntry(this.instead);
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    try {
      for (let i = 0; i < size; i++) {
        // None of the parent's Node options: the workers run the built bundle and need none, and a
        // worker refuses V8 options (--max-old-space-size, which servers often run with) and
        // --input-type (a program run as `node --input-type=module -e …`) by failing to start.
        const w = new Worker(entry, { execArgv: [] });
        w.unref();
        w.on('message', (reply: WorkerReply) => this.settle(w, reply));
        w.on('error', (e) => this.fail(new RolldeltaError(ErrorCode.IO, `a worker thread failed: ${e.message}`, { cause: e })));
        w.on('exit', (code) => {
          if (!this.failure) this.fail(new RolldeltaError(ErrorCode.IO, `a worker thread exited early with code ${code}; ${this.instead}`));
        });
        this.workers.push(w);
        this.idle.push(w);
      }
    } catch (e) {
      // A thread that cannot start (the process's thread limit): no caller gets this pool to
      // close, so the threads started before it and the listener go now.
      this.fail(new RolldeltaError(ErrorCode.IO, `a worker thread could not start: ${(e as Error)?.message ?? String(e)}; ${this.instead}`, { cause: e }));
      throw this.failure;
    }
  }

  /** Why the pool stopped (a crash, an abort, close()), or undefined while it runs. */
  get error(): RolldeltaError | undefined {
    return this.failure;
  }

  /** Queues a task; resolves with its result or rejects with a RolldeltaError. */
  run<R>(task: WorkerTask): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve: resolve as (v: unknown) => void, reject });
      this.dispatch();
    });
  }

  /** Terminates every worker; pending tasks reject with ERR_ABORTED. */
  async close(): Promise<void> {
    if (!this.failure) this.fail(new RolldeltaError(ErrorCode.ABORTED, 'the worker pool was closed before the task finished'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.ref();
      const req: WorkerRequest = { id: job.id, task: job.task };
      w.postMessage(req);
    }
  }

  private settle(w: Worker, reply: WorkerReply): void {
    const job = this.busy.get(w);
    if (!job || job.id !== reply.id) return;
    this.busy.delete(w);
    w.unref();
    this.idle.push(w);
    if (reply.error) job.reject(new RolldeltaError(reply.error.code as ErrorCodeName, reply.error.message));
    else job.resolve(reply.result);
    this.dispatch();
  }

  private fail(e: RolldeltaError): void {
    if (this.failure) return;
    this.failure = e;
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const job of this.busy.values()) job.reject(e);
    for (const job of this.queue) job.reject(e);
    this.busy.clear();
    this.queue.length = 0;
    for (const w of this.workers) void w.terminate();
  }
}
