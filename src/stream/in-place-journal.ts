import { lstat, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { crc32 } from '../core/crc32.js';
import { ioError } from './io-error.js';
import { writeAll } from './write-all.js';

/**
 * Progress of an in-place patch, kept in `<file>.rdjournal` so a killed run resumes. Phase 1 runs
 * the copies in planned order (`step`), phase 2 writes literals and adds in op order (`op`), phase 3
 * truncates and verifies. `wal` holds bytes about to overwrite data they were computed from (a copy
 * that overlaps its own source, the sums of adds): written here first, they are simply written
 * again after a crash, where recomputing them would read half-overwritten input.
 */
export interface InPlaceJournal {
  /** SHA-256 (hex) of the delta being applied: a journal of another delta is refused. */
  delta: string;
  /** SHA-256 (hex) of the plan (step order and stashed pieces): steps only mean something in it. */
  plan: string;
  phase: 1 | 2 | 3;
  step: number;
  op: number;
  /** For a self-overlapping copy: how many of its chunks are done. */
  chunk: number;
  /** Target offsets and lengths of the bytes in `walBytes`. */
  wal: { offset: number; length: number }[];
  walBytes: Uint8Array;
}

const MAGIC = 'rolldelta-journal-1\n';

/**
 * Writes the journal through a temporary file, fsync and rename: a crash leaves the old journal
 * or the new one. The caller fsyncs the patched file first, so the journal never runs ahead of it.
 * @example
 * await writeJournal('/data/app.img.rdjournal', { delta, plan, phase: 1, step: 0, op: 0, chunk: 0, wal: [], walBytes: new Uint8Array(0) });
 */
export async function writeJournal(path: string, j: InPlaceJournal): Promise<void> {
  const head = Buffer.from(MAGIC + JSON.stringify({ delta: j.delta, plan: j.plan, phase: j.phase, step: j.step, op: j.op, chunk: j.chunk, wal: j.wal }) + '\n');
  // Written as its parts: joining them copied the write-ahead bytes twice per write (two
  // writes per 256 KiB batch of an in-place patch, all of it garbage at once).
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(j.walBytes, crc32(head)));
  const tmp = `${path}.tmp`;
  try {
    const fh = await openFresh(tmp);
    try {
      await writeAll(fh, [head, j.walBytes, crc], tmp);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    // Most likely the disk is full: the partial copy would take more of it, for nothing.
    await unlink(tmp).catch(() => {});
    throw ioError(e, 'write the in-place journal', path);
  }
}

/**
 * Reads a journal, or undefined when there is none. A damaged one (which the rename makes
 * impossible short of disk corruption) is an error: guessing could destroy the file.
 * @example
 * const j = await readJournal('/data/app.img.rdjournal');
 */
export async function readJournal(path: string): Promise<InPlaceJournal | undefined> {
  let raw: Buffer;
  try {
    await checkOwnFile(path);
    raw = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(e, 'read the in-place journal', path);
  }
  const bad = (why: string) =>
    new RolldeltaError(ErrorCode.CORRUPT, `the in-place journal ${path} is damaged (${why}); the file it belongs to is half patched and cannot be resumed safely`);
  if (raw.length < MAGIC.length + 4 || raw.subarray(0, MAGIC.length).toString() !== MAGIC) throw bad('bad magic');
  const body = raw.subarray(0, raw.length - 4);
  if (crc32(body) !== raw.readUInt32BE(raw.length - 4)) throw bad('checksum mismatch');
  const nl = body.indexOf(10, MAGIC.length);
  if (nl < 0) throw bad('no header');
  const h = JSON.parse(body.subarray(MAGIC.length, nl).toString()) as Omit<InPlaceJournal, 'walBytes'>;
  const walBytes = new Uint8Array(body.subarray(nl + 1));
  if (h.wal.reduce((a, w) => a + w.length, 0) !== walBytes.length) throw bad('write-ahead bytes do not add up');
  return { ...h, walBytes };
}

/**
 * Creates `path` for writing, never through what is there already: the names beside the patched
 * file are predictable, and a symlink planted in a shared folder would aim the writes at any file.
 */
export async function openFresh(path: string): Promise<FileHandle> {
  await unlink(path).catch(() => {});
  return open(path, 'wx');
}

/** Refuses a journal this process could not have written (a symlink, another user's file): it says what to write where. */
async function checkOwnFile(path: string): Promise<void> {
  const s = await lstat(path);
  const uid = process.geteuid?.();
  if (!s.isFile() || (uid !== undefined && s.uid !== uid)) {
    throw new RolldeltaError(ErrorCode.UNSAFE_PATH, `the in-place journal ${path} is ${s.isFile() ? `uid ${s.uid}'s file, not this process's` : 'not a regular file'}; remove it if no patch of yours is half done`);
  }
}

/** Removes the journal (and its temporary file) once the patch is complete. */
export async function removeJournal(path: string): Promise<void> {
  await unlink(path).catch(() => {});
  await unlink(`${path}.tmp`).catch(() => {});
}
