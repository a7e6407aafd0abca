import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { DamagedRangeError, FrameScanner } from '../format/frame-scanner.js';

/** Progress of a device update. */
export interface UpdateEvent {
  phase: 'waiting' | 'download' | 'apply' | 'fallback';
  /** Delta bytes downloaded so far, and the total when known. */
  bytes?: number;
  total?: number;
  message?: string;
}

export interface DownloadOptions {
  /** How long the server may keep answering "still generating" (202, 502, 504); default 60 s. */
  requestTimeoutMs: number;
  /** Longest wait between two asks while the server generates; default 30 s. */
  maxBackoffMs: number;
  /** Download attempts (each resumes where the last stopped), and the pause between them. */
  retries: number;
  retryIntervalMs: number;
  onProgress?: (e: UpdateEvent) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new RolldeltaError(ErrorCode.ABORTED, 'the update was aborted'));
    }, { once: true });
  });

/** Still generating: 202 as rolldelta answers, 502/504 as existing delta servers behind proxies do. */
const isPending = (status: number) => status === 202 || status === 502 || status === 504;

/**
 * Waits until the server has the delta at `url` (capped exponential backoff, honouring
 * Retry-After, up to the request timeout), then downloads it into `path`, resuming an
 * interrupted transfer with a Range request, and checks the SHA-256 the server announced. The bytes
 * land in `path + '.part'`, which is fsynced and renamed to `path` only once complete and verified.
 * A native or image delta is checked frame by frame as it arrives (each frame's CRC-32): a damaged
 * frame is fetched again from its first byte, not the whole delta.
 * @example
 * await downloadDelta('http://srv:8080/delta?from=a:1&to=a:2', '/var/tmp/a.rdimg', opts);
 */
export async function downloadDelta(url: string, path: string, opts: DownloadOptions): Promise<number> {
  const deadline = Date.now() + opts.requestTimeoutMs;
  let wait = 500;
  let failures = 0;
  let expectedSha: string | undefined;
  let total: number | undefined;
  const partial = `${path}.part`;
  let scanner = new FrameScanner();
  const fh = await open(partial, 'w');
  let have = 0;
  let complete = false;
  try {
    for (;;) {
      let res: Response;
      try {
        res = await fetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: opts.signal });
      } catch (e) {
        if (opts.signal?.aborted) throw new RolldeltaError(ErrorCode.ABORTED, 'the update was aborted');
        if (++failures > opts.retries) throw new RolldeltaError(ErrorCode.REMOTE, `cannot reach the delta server at ${url}: ${(e as Error).message}`, { cause: e });
        await sleep(opts.retryIntervalMs, opts.signal);
        continue;
      }
      if (isPending(res.status)) {
        await res.body?.cancel();
        if (Date.now() >= deadline) throw new RolldeltaError(ErrorCode.TIMEOUT, `the delta server was still generating the delta after ${opts.requestTimeoutMs} ms`);
        const hinted = Number(res.headers.get('retry-after')) * 1000;
        const delay = Math.min(Number.isFinite(hinted) && hinted > 0 ? Math.max(hinted, wait) : wait, opts.maxBackoffMs, Math.max(0, deadline - Date.now()));
        opts.onProgress?.({ phase: 'waiting', message: `server answered ${res.status}; asking again in ${delay} ms` });
        await sleep(delay, opts.signal);
        wait = Math.min(wait * 2, opts.maxBackoffMs);
        continue;
      }
      if (res.status !== 200 && res.status !== 206) {
        const text = (await res.text().catch(() => '')).trim().slice(0, 300);
        throw new RolldeltaError(ErrorCode.REMOTE, `the delta server answered ${res.status}: ${text}`);
      }
      const sha = res.headers.get('x-delta-sha256') ?? undefined;
      // The server ignored the range, or the delta changed between attempts: start over.
      if ((res.status === 200 && have > 0) || (sha && expectedSha && sha !== expectedSha)) {
        have = 0;
        scanner = new FrameScanner();
      }
      expectedSha = sha ?? expectedSha;
      const length = Number(res.headers.get('content-length'));
      if (Number.isFinite(length)) total = have + length;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await fh.write(chunk, 0, chunk.length, have);
          have += chunk.length;
          scanner.push(chunk);
          opts.onProgress?.({ phase: 'download', bytes: have, total });
        }
      } catch (e) {
        if (opts.signal?.aborted) throw new RolldeltaError(ErrorCode.ABORTED, 'the update was aborted');
        if (e instanceof DamagedRangeError) {
          // Only the damaged frame and what follows it is fetched again.
          await res.body?.cancel().catch(() => {});
          if (++failures > opts.retries) throw e;
          have = e.offset;
          scanner.restartAt(e.offset);
          opts.onProgress?.({ phase: 'download', bytes: have, total, message: e.message });
          continue;
        }
        if (++failures > opts.retries) throw new RolldeltaError(ErrorCode.REMOTE, `the delta download kept failing: ${(e as Error).message}`, { cause: e });
        await sleep(opts.retryIntervalMs, opts.signal);
        continue;
      }
      if (total !== undefined && have < total) {
        if (++failures > opts.retries) throw new RolldeltaError(ErrorCode.TRUNCATED, `the delta download stopped at ${have} of ${total} bytes`);
        await sleep(opts.retryIntervalMs, opts.signal);
        continue;
      }
      break;
    }
    await fh.truncate(have);
    await fh.sync();
    await fh.close();
    if (expectedSha) {
      const h = createHash('sha256');
      for await (const c of createReadStream(partial)) h.update(c as Buffer);
      const got = h.digest('hex');
      if (got !== expectedSha) throw new RolldeltaError(ErrorCode.CHECKSUM, `the downloaded delta has SHA-256 ${got}, the server announced ${expectedSha}; it was corrupted in transit`);
    }
    await rename(partial, path);
    complete = true;
  } finally {
    await fh.close().catch(() => {});
    if (!complete) await unlink(partial).catch(() => {});
  }
  return (await stat(path)).size;
}
