import { open, readFile, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError, isRolldeltaError } from '../core/errors.js';
import { DamagedRangeError, FrameScanner } from '../format/frame-scanner.js';
import { checkRingSize, type ReadRing } from '../image/read-ring.js';
import { settledUnlessAborted } from '../stream/abort.js';
import { fileSha256 } from '../stream/file-sha256.js';
import { ioError } from '../stream/io-error.js';
import { nodeRawDeflate } from '../stream/node-raw-deflate.js';
import { httpGet, type GetResponse } from './_http-get.js';
import { checkByteLimit, checkMilliseconds } from './_option-checks.js';
import { sleepUnlessAborted, updateAborted } from './_update-abort.js';
import { isBusyStatus } from './registry-unavailable.js';

/** A scanner that checks the delta's frames as they land with node:zlib's CRC-32 (16x the core's without the optimizing compiler, as `rolldelta update` runs). */
function checkedScanner(): FrameScanner {
  return new FrameScanner({ crc32: nodeRawDeflate.crc32 });
}

/**
 * Progress of a device update. `waiting`: the server is generating the delta, another update of
 * the same images holds the work directory, or the Docker Engine is unreachable (restarting);
 * `download`: bytes so far (they go back when a damaged frame is fetched again, and a failed
 * attempt says so in `message`); `apply`: rebuilding and loading (`bytes`: of the new image's
 * archive handed to docker load so far); `fallback`: the delta path failed (`message` says why)
 * and a regular pull begins.
 */
export interface UpdateEvent {
  phase: 'waiting' | 'download' | 'apply' | 'fallback';
  /** Delta bytes downloaded so far, and the total when known. */
  bytes?: number;
  total?: number;
  message?: string;
}

export interface DownloadOptions {
  /**
   * How long the server may keep answering "still generating" (202, 502, 504) in a row; default
   * 60 s. A delta made again after part of it arrived is waited for as long again, twice at most;
   * after a server's restart (503) or a proxy's 502/504 mid-download, as long again as well.
   */
  requestTimeoutMs: number;
  /** Longest wait between two asks while the server generates; default 30 s. */
  maxBackoffMs: number;
  /**
   * Download attempts in all, at least one is made (each resumes where the last stopped; answers
   * that the delta is still being generated are not attempts: `requestTimeoutMs` bounds each run
   * of them), and the pause between them.
   */
  retries: number;
  retryIntervalMs: number;
  /**
   * Longest time without a byte from the server, connecting and answering included, before that
   * attempt is given up with ERR_TIMEOUT and counted as failed (the next one resumes where the
   * bytes stopped); default 30 s, 0 for none. Time spent writing what arrived is not counted.
   */
  idleTimeoutMs?: number;
  /**
   * Most bytes the delta may have; default none. A larger Content-Length, or more bytes than this
   * arriving (a server that never stops sending), ends the download with ERR_LIMIT at once, not
   * retried, and the part is removed: a delta server cannot fill the device's disk.
   */
  maxBytes?: number;
  onProgress?: (e: UpdateEvent) => void;
  signal?: AbortSignal;
  /**
   * The ring of 1 MiB buffers to read an http: answer through instead of 4 MiB of its own, shared
   * with what runs after the download (`updateImage` hands the same one to the save and the apply).
   */
  ring?: ReadRing;
}

/** "1 attempt", "30 attempts". */
const tries = (n: number) => `${n} attempt${n === 1 ? '' : 's'}`;
/** Default of `idleTimeoutMs`. */
const IDLE_TIMEOUT_MS = 30_000;
/** Deltas made again mid-download (202 after part of one came) that one download waits for. */
const MAX_REMAKES = 2;
/** A frame that arrives damaged this many times in a row is damaged on the server, not in transit. */
const DAMAGED_IN_A_ROW = 3;

/** A server's error text without the code it ends with (`… (ERR_NOT_FOUND)`): ours follows it. */
const withoutTrailingCode = (text: string) => text.replace(/\s*\(ERR_[A-Z_]+\)$/, '');

/**
 * The chunks of a response body, ending with ERR_ABORTED as soon as `signal` aborts, whatever the
 * transport does with the rest of the body (Node 20's fetch, used before, waited forever for it
 * when the abort came a chunk before the end).
 */
async function* untilAborted(body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const r = signal ? await settledUnlessAborted(it.next(), signal, updateAborted) : await it.next();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    void it.return?.()?.catch(() => {});
  }
}

/** The buffer size of a ring the download may read through (rawGet's 4 MiB, in quarters). */
const RING_BUFFER_BYTES = 1 << 20;

/**
 * Answers that say "ask again later" rather than "no": the delta is being generated (202), a proxy
 * in front cannot reach the server (502, 504), the server is restarting or busy (503, 429, with
 * Retry-After): waited for within `requestTimeoutMs`, not counted as failed attempts. A rolling
 * restart of the delta server would otherwise send every device that asked meanwhile to a pull.
 */
const isPending = (status: number) => status === 202 || isBusyStatus(status);

/**
 * Waits until the server has the delta at `url` (capped exponential backoff, honouring
 * Retry-After, up to the request timeout), then downloads it into `path`, resuming an
 * interrupted transfer with a Range request, and checks the SHA-256 the server announced. The bytes
 * land in `path + '.part'`, which is fsynced and renamed to `path` only once complete and verified.
 * A native or image delta is checked frame by frame as it arrives (each frame's CRC-32): a damaged
 * frame is fetched again from its first byte, not the whole delta; the same frame damaged three
 * times in a row is damaged in the server's copy, and ends the download with ERR_CHECKSUM.
 * A server that sends nothing for `idleTimeoutMs` fails that attempt; the next one resumes.
 * A download that stops (the network stays down past the retries, an abort, the process killed or
 * the power cut) keeps its `.part` and a note of its URL and announced SHA-256 (`.part.json`): the
 * next call for the same URL and path checks the part's frames and resumes after the last good
 * one. A part whose bytes turn out wrong, or an announced SHA-256 that changed, starts over.
 * A part that cannot be written ends the download at once with ERR_IO naming it, not retried;
 * when the disk has no room for it, it is removed: its space goes back to what runs next, such as
 * a pull. After any other write failure (EIO) it is kept, as after a cut.
 * @example
 * await downloadDelta('http://srv:8080/delta?from=a:1&to=a:2', '/var/tmp/a.rdimg', opts);
 */
export async function downloadDelta(url: string, path: string, opts: DownloadOptions): Promise<number> {
  // Programming errors, not network ones: refused at once rather than retried.
  checkRingSize(opts.ring, RING_BUFFER_BYTES, 'ring');
  checkAttemptOptions(opts);
  const idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  /**
   * When the present run of "ask again later" answers must end; set again by the first of the next
   * run: a delta the server makes again mid-download (it found its copy damaged) gets as long as
   * the first, not what the download before it left of that.
   */
  let deadline: number | undefined = Date.now() + opts.requestTimeoutMs;
  /** Deltas made again mid-download so far: a server whose every new copy is damaged must not hold the device for `retries` of them. */
  let remakes = 0;
  let wait = 500;
  let failures = 0;
  /** The frame that last arrived damaged, and how many times in a row it did. */
  let damagedAt = -1;
  let damagedTimes = 0;
  let expectedSha: string | undefined;
  let total: number | undefined;
  const partial = `${path}.part`;
  const notePath = `${partial}.json`;
  let scanner = checkedScanner();
  const resumed = await resumePoint(partial, notePath, url, scanner);
  let have = resumed.have;
  expectedSha = resumed.sha256;
  const fh = await open(partial, have > 0 ? 'r+' : 'w').catch((e: unknown) => {
    throw ioError(e, 'open', partial);
  });
  await fh.truncate(have).catch(async (e: unknown) => {
    await fh.close().catch(() => {});
    throw ioError(e, 'write', partial);
  });

  const attempts = Math.max(1, opts.retries);
  /**
   * Counts a failed attempt: throws `final()` once `retries` attempts have been made, else reports
   * it and waits the retry interval (unless `immediately`: the next attempt asks for other bytes).
   */
  const failed = async (reason: string, final: () => RolldeltaError, immediately = false) => {
    if (++failures >= attempts) throw final();
    const when = immediately ? 'now' : `in ${opts.retryIntervalMs} ms`;
    opts.onProgress?.({ phase: 'download', bytes: have, total, message: `attempt ${failures} of ${attempts} failed: ${reason}; trying again ${when}` });
    if (!immediately) await sleepUnlessAborted(opts.retryIntervalMs, opts.signal);
  };
  /** A transport failure's final error: ERR_TIMEOUT when the server went quiet, else `code`. */
  const transportError = (e: unknown, code: ErrorCode, message: string) =>
    new RolldeltaError(isRolldeltaError(e) && e.code === ErrorCode.TIMEOUT ? ErrorCode.TIMEOUT : code, `${message} (${tries(attempts)}): ${(e as Error).message}`, { cause: e });

  const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
  let limitError: RolldeltaError | undefined;
  /** ERR_LIMIT for a delta past `maxBytes`: nothing of it is kept. */
  const tooLarge = (what: string) => {
    keep = false;
    return (limitError = new RolldeltaError(ErrorCode.LIMIT, `the delta at ${url} is larger than the ${maxBytes} bytes allowed (maxBytes): ${what}`));
  };
  // Whether the part is worth keeping for a later call if this one fails.
  let keep = true;
  let complete = false;
  /** A failure to write the part: the device's, so no attempt of the server's will help. */
  let writeError: RolldeltaError | undefined;
  const notWritten = (e: unknown, file: string) => {
    // Only a disk without room frees the part: its verified bytes are kept after any other
    // failure (EIO, a read-only remount), as after a cut, for the next call to resume.
    if (isNoRoom(e)) keep = false;
    return (writeError = ioError(e, 'write', file));
  };
  const note = (n: PartNote) => writeNote(notePath, n).catch((e: unknown) => {
    throw notWritten(e, notePath);
  });
  try {
    // A part already whole (the last call stopped before the rename) needs no request.
    while (!scanner.complete) {
      let res: GetResponse;
      try {
        res = await httpGet(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: opts.signal, reuseBuffers: true, ring: opts.ring?.block(), idleTimeoutMs });
      } catch (e) {
        if (opts.signal?.aborted) throw updateAborted(opts.signal.reason);
        await failed((e as Error).message, () => transportError(e, ErrorCode.REMOTE, `cannot reach the delta server at ${url}`));
        continue;
      }
      // Whatever happens below (a failed write of the note too), the connection is let go.
      try {
        if (isPending(res.status)) {
          // Quoted if the wait runs out: a 503 may say why (the server's engine is away).
          const said = withoutTrailingCode((await res.text(200)).trim());
          const last = `${res.status}${said === '' ? '' : ` ${said}`}`;
          if (deadline === undefined) {
            // Only a delta made again counts: a restarting server's or a proxy's answers cost their time.
            if (res.status === 202 && ++remakes > MAX_REMAKES) throw new RolldeltaError(ErrorCode.TIMEOUT, `the delta server began making the delta again ${remakes} times during the download (do its copies keep failing their checks?)`);
            deadline = Date.now() + opts.requestTimeoutMs;
          }
          if (Date.now() >= deadline) throw new RolldeltaError(ErrorCode.TIMEOUT, `the delta server was still generating the delta after ${opts.requestTimeoutMs} ms (its last answer: ${last})`);
          const hinted = Number(res.header('retry-after')) * 1000;
          const delay = Math.min(Number.isFinite(hinted) && hinted > 0 ? Math.max(hinted, wait) : wait, opts.maxBackoffMs, Math.max(0, deadline - Date.now()));
          opts.onProgress?.({ phase: 'waiting', message: `server answered ${res.status}; asking again in ${delay} ms` });
          await sleepUnlessAborted(delay, opts.signal);
          wait = Math.min(wait * 2, opts.maxBackoffMs);
          continue;
        }
        if (res.status === 416 && have > 0) {
          // Range Not Satisfiable: the part is as long as the delta, or longer. Start over.
          res.discard();
          have = 0;
          scanner = checkedScanner();
          await failed('the server refused the range of the partial download', () => new RolldeltaError(ErrorCode.REMOTE, 'the delta server refused every range of the partial download'), true);
          continue;
        }
        if (res.status !== 200 && res.status !== 206) {
          // Not retried: the server said what is wrong (404: it cannot get the image), and a device
          // falls back to a pull at once. Its own error code would sit beside ours: dropped.
          const text = withoutTrailingCode((await res.text(300)).trim());
          // 204: the references name one image now (a moving tag that moved back since it was asked).
          const said = res.status === 204 ? `both images are ${res.header('x-image-id') ?? 'the same'}, there is no delta` : text;
          throw new RolldeltaError(ErrorCode.REMOTE, `the delta server answered ${res.status}: ${said}`);
        }
        deadline = undefined;
        wait = 500;
        const sha = res.header('x-delta-sha256');
        // The server ignored the range, or the delta changed since the part began: start over.
        const changed = sha !== undefined && expectedSha !== undefined && sha !== expectedSha;
        if ((res.status === 200 && have > 0) || changed) {
          have = 0;
          scanner = checkedScanner();
          damagedAt = -1;
          if (res.status === 206) {
            // This answer starts mid-way through the new delta: ask again from its first byte.
            res.discard();
            expectedSha = sha;
            await note({ url, sha256: sha });
            await failed('the delta changed on the server', () => new RolldeltaError(ErrorCode.REMOTE, 'the delta kept changing while it was downloaded'), true);
            continue;
          }
        }
        if (sha !== expectedSha || have === 0) await note({ url, sha256: sha ?? expectedSha });
        expectedSha = sha ?? expectedSha;
        const length = Number(res.header('content-length') ?? NaN);
        if (Number.isFinite(length)) total = have + length;
        if (total !== undefined && total > maxBytes) throw tooLarge(`the server announced ${total} bytes`);
        try {
          for await (const chunk of untilAborted(res.body, opts.signal)) {
            if (have + chunk.length > maxBytes) throw tooLarge(`more than that arrived`);
            await writeAt(fh, partial, chunk, have).catch((e: unknown) => {
              throw notWritten(e, partial);
            });
            have += chunk.length;
            scanner.push(chunk);
            opts.onProgress?.({ phase: 'download', bytes: have, total });
          }
        } catch (e) {
          if (opts.signal?.aborted) throw updateAborted(opts.signal.reason);
          if (e === limitError || e === writeError) throw e;
          if (e instanceof DamagedRangeError) {
            // Only the damaged frame and what follows it is fetched again.
            res.discard();
            have = e.offset;
            scanner.restartAt(e.offset);
            damagedTimes = e.offset === damagedAt ? damagedTimes + 1 : 1;
            damagedAt = e.offset;
            if (damagedTimes >= DAMAGED_IN_A_ROW) {
              throw new RolldeltaError(ErrorCode.CHECKSUM, `the delta server's copy of the delta is damaged at byte ${e.offset}: the frame there arrived damaged ${damagedTimes} times in a row; have the server make the delta again (remove it from its store), or pull the image`, { cause: e });
            }
            // Damage in transit is rare: the first fetch again goes at once, a second one waits.
            await failed(e.message, () => new RolldeltaError(ErrorCode.CHECKSUM, `the delta kept arriving damaged (${tries(attempts)}, the last at byte ${e.offset}); check the network between the device and the delta server`, { cause: e }), damagedTimes === 1);
            continue;
          }
          await failed((e as Error).message, () => transportError(e, ErrorCode.REMOTE, 'the delta download kept failing'));
          continue;
        }
        if (total !== undefined && have < total) {
          await failed(`the answer stopped at ${have} of ${total} bytes`, () => new RolldeltaError(ErrorCode.TRUNCATED, `the delta download stopped at ${have} of ${total} bytes (${tries(attempts)})`));
          continue;
        }
        break;
      } finally {
        res.discard();
      }
    }
    // The disk may refuse the last of it only now (a full one at fsync): as any write, not retried.
    try {
      await fh.truncate(have);
      await fh.sync();
    } catch (e) {
      throw notWritten(e, partial);
    }
    await fh.close();
    if (expectedSha) {
      const got = toHex((await fileSha256(partial)).digest);
      if (got !== expectedSha) {
        // Every frame passed its check, yet the whole is wrong: no part of it is worth resuming.
        keep = false;
        throw new RolldeltaError(ErrorCode.CHECKSUM, `the downloaded delta has SHA-256 ${got}, the server announced ${expectedSha}; it was corrupted in transit`);
      }
    }
    await rename(partial, path).catch((e: unknown) => {
      throw ioError(e, `move the finished download to ${path} from`, partial);
    });
    complete = true;
  } finally {
    // A failed call keeps the verified bytes, up to `have`, for the next one to resume, even when
    // the server's copy is damaged after them: each frame before passed its CRC-32, the whole is
    // checked against the SHA-256 at the end, and a delta the server makes again is the same bytes
    // (else its SHA-256 changes and the next call starts over). Nothing received: nothing to keep.
    const keepPart = !complete && keep && have > 0;
    if (keepPart) await fh.truncate(have).catch(() => {});
    await fh.close().catch(() => {});
    if (!complete && !keepPart) await unlink(partial).catch(() => {});
    if (!keepPart) await unlink(notePath).catch(() => {});
  }
  return (await stat(path)).size;
}

/** Refuses attempt and time options that are no count or duration (NaN would wait for 202s forever). */
function checkAttemptOptions(opts: DownloadOptions): void {
  if (!Number.isInteger(opts.retries) || opts.retries < 0) {
    throw new RolldeltaError(ErrorCode.INVALID_ARGUMENT, `retries must be a whole number of download attempts, got ${opts.retries}`);
  }
  if (opts.maxBytes !== undefined) checkByteLimit('maxBytes', opts.maxBytes);
  for (const name of ['requestTimeoutMs', 'maxBackoffMs', 'retryIntervalMs', 'idleTimeoutMs'] as const) {
    // Infinity is a choice here: no idle timeout, or a deadline that never comes.
    if (opts[name] !== undefined) checkMilliseconds(name, opts[name], 0, Infinity);
  }
}

/** What a partial download is of, kept beside it so that only the same delta resumes it. */
interface PartNote {
  url: string;
  sha256?: string;
}

/** Failures that say the disk (or the user's quota, or the file size limit) has no room for the part. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** Whether a write failed for want of room; writeAt's "wrote nothing" counts as that too. */
function isNoRoom(e: unknown): boolean {
  return isRolldeltaError(e) || NO_ROOM.has((e as NodeJS.ErrnoException)?.code ?? '');
}

/** Writes all of `chunk` at `position` of `path`: a disk filling up writes part of it first, then fails. */
async function writeAt(fh: FileHandle, path: string, chunk: Uint8Array, position: number): Promise<void> {
  for (let at = 0; at < chunk.length; ) {
    const { bytesWritten } = await fh.write(chunk, at, chunk.length - at, position + at);
    if (bytesWritten === 0) throw new RolldeltaError(ErrorCode.IO, `cannot write ${path}: the file system wrote nothing and reported no error`);
    at += bytesWritten;
  }
}

async function writeNote(notePath: string, note: PartNote): Promise<void> {
  await writeFile(notePath, JSON.stringify(note));
}

/**
 * Where a download into `partial` can resume: after the last good unit of a part left by an
 * earlier call for the same `url` (fed to `scanner`, which then goes on from there), else 0.
 */
async function resumePoint(partial: string, notePath: string, url: string, scanner: FrameScanner): Promise<{ have: number; sha256?: string }> {
  let note: PartNote;
  try {
    note = JSON.parse(await readFile(notePath, 'utf8')) as PartNote;
  } catch {
    return { have: 0 };
  }
  if (note?.url !== url) return { have: 0 };
  let fh;
  try {
    fh = await open(partial, 'r');
  } catch {
    return { have: 0 };
  }
  try {
    const buf = new Uint8Array(1 << 20);
    let have = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, have);
      if (bytesRead === 0) break;
      try {
        scanner.push(buf.subarray(0, bytesRead));
      } catch (e) {
        if (!(e instanceof DamagedRangeError)) throw e;
        // Bytes a crash left unwritten or half written: keep what was verified before them.
        scanner.restartAt(e.offset);
        return { have: e.offset, sha256: typeof note.sha256 === 'string' ? note.sha256 : undefined };
      }
      have += bytesRead;
    }
    return { have, sha256: typeof note.sha256 === 'string' ? note.sha256 : undefined };
  } finally {
    await fh.close();
  }
}
