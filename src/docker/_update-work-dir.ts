import { randomBytes } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { ioError } from '../stream/io-error.js';
import { sleepUnlessAborted, unlessAborted, updateAborted } from './_update-abort.js';

/**
 * The lock file of an update's work directory: created exclusively, it holds its holder's stamp
 * (pid, boot, call; see lockStamp). Another process (a second agent, a CLI run) waits while that
 * pid is alive in this boot and takes it over once it is not.
 */
export const LOCK_FILE = 'lock';
/** Serialises take-overs of a stale lock, so that two waiters cannot both remove it and then each other's. */
const TAKEOVER_FILE = 'lock.takeover';
/** How often a waiter looks at the lock again. */
const POLL_MS = 200;
/**
 * A lock file is created empty and then written: one still empty this long after was left by a
 * process killed in between. A take-over lasts microseconds: one older than this was killed too.
 */
const HALF_WRITTEN_MS = 5_000;

/** The calls of this process that are using each work directory, in turn: the last one's turn. */
const turns = new Map<string, Promise<void>>();
/** The call tokens of the locks this process holds: one reached by another path (a symlink) is not stale. */
const heldTokens = new Set<string>();

/**
 * This boot's ID (Linux), so that a lock left before a reboot is stale even when its pid now
 * belongs to another process; '-' where the system does not say.
 */
const BOOT_ID = (() => {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || '-';
  } catch {
    return '-';
  }
})();

/** What a lock file holds: `pid boot token`, the token new for each call that takes a lock. */
function lockStamp(token: string): string {
  return `${process.pid} ${BOOT_ID} ${token}`;
}

interface Holder {
  /** The pid the lock file holds; undefined while it is half written. */
  pid: number | undefined;
  boot: string | undefined;
  token: string | undefined;
  ageMs: number;
}

/**
 * An update's work directory, held by this call alone until `release`: at most one update per
 * directory at a time, within this process (calls queue) and across processes (the lock file).
 * Pids are compared within one pid namespace: processes in different containers sharing the
 * directory are not told apart. Threads of one process share its pid and are not either.
 */
export class UpdateWorkDir {
  private released = false;
  private constructor(
    readonly path: string,
    private readonly leaveTurn: () => void,
    private readonly token: string,
  ) {
    heldTokens.add(token);
  }

  /**
   * Waits for the directory's earlier users in this process, then for its lock file (polling,
   * taking over a lock whose process is gone), creating the directory if need be. `onWait` is
   * told once when the call has to wait. An abort while waiting rejects with ERR_ABORTED.
   * @example
   * const wd = await UpdateWorkDir.lock('/var/tmp/rolldelta-update-0123', { signal });
   * try { ... } finally { await wd.release() }
   */
  static async lock(path: string, opts: { signal?: AbortSignal; onWait?: (why: string) => void } = {}): Promise<UpdateWorkDir> {
    let told = false;
    const tell = (why: string) => {
      if (!told) opts.onWait?.(why);
      told = true;
    };
    const earlier = turns.get(path);
    let leaveTurn!: () => void;
    const mine = new Promise<void>((resolve) => (leaveTurn = resolve));
    // The next call waits for this one's turn to end, which cannot happen before the earlier
    // ones' (an aborted waiter gives its turn up at once, but its successors still wait for them).
    const turn = (earlier ?? Promise.resolve()).then(() => mine);
    turns.set(path, turn);
    void turn.then(() => {
      if (turns.get(path) === turn) turns.delete(path);
    });
    try {
      if (earlier) {
        tell(`another update in this process is using ${path}; waiting for it`);
        await unlessAborted(earlier, opts.signal);
      }
      for (;;) {
        if (opts.signal?.aborted) throw updateAborted(opts.signal.reason);
        await makeOwnDirectory(path);
        const token = await createLock(path);
        if (token !== undefined) return new UpdateWorkDir(path, leaveTurn, token);
        const holder = await readHolder(path);
        if (holder === undefined) continue; // released between the two looks
        if (isStale(holder)) {
          if (await takeOver(path)) continue;
        } else {
          const who = holder.pid === process.pid ? 'another update in this process' : `another process (pid ${holder.pid ?? 'starting'})`;
          tell(`${who} is updating in ${path}; waiting for it`);
        }
        await sleepUnlessAborted(POLL_MS, opts.signal);
      }
    } catch (e) {
      // A folder left empty by a disk too full for the lock file is not left behind.
      if (e instanceof RolldeltaError && e.code === ErrorCode.IO) await rmdir(path).catch(() => {});
      leaveTurn();
      throw e;
    }
  }

  /**
   * Takes the directory if no one holds it, else undefined at once: for removing an abandoned
   * directory without disturbing an update that is using it.
   * @example
   * const wd = await UpdateWorkDir.tryLock(dir);
   * if (wd) await wd.release({ remove: true });
   */
  static async tryLock(path: string): Promise<UpdateWorkDir | undefined> {
    if (turns.has(path)) return undefined;
    let leaveTurn!: () => void;
    const turn = new Promise<void>((resolve) => (leaveTurn = resolve));
    turns.set(path, turn);
    void turn.then(() => {
      if (turns.get(path) === turn) turns.delete(path);
    });
    try {
      await checkOwnDirectory(path);
      for (let attempt = 0; attempt < 2; attempt++) {
        const token = await createLock(path);
        if (token !== undefined) return new UpdateWorkDir(path, leaveTurn, token);
        const holder = await readHolder(path);
        if (holder !== undefined && !(isStale(holder) && (await takeOver(path)))) break;
      }
    } catch {
      // Gone, or not a directory we can write: nothing to take.
    }
    leaveTurn();
    return undefined;
  }

  /**
   * Removes what a killed run left (the old image's archive, its temporary files): everything but
   * the names in `keep` and the lock.
   */
  async removeAllBut(keep: readonly string[]): Promise<void> {
    for (const name of await readdir(this.path)) {
      if (name !== LOCK_FILE && !keep.includes(name)) await rm(join(this.path, name), { recursive: true, force: true });
    }
  }

  /**
   * Gives the directory up: removes the lock file and then the directory itself when it is empty
   * (nothing left worth resuming), or, with `remove`, everything in it first. Safe to call twice.
   */
  async release(opts: { remove?: boolean } = {}): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      if (opts.remove) await this.removeAllBut([]).catch(() => {});
      // Still ours? A holder that was stopped (SIGSTOP) past HALF_WRITTEN_MS cannot have lost
      // it: a lock with a live pid is never taken over.
      if ((await readFile(join(this.path, LOCK_FILE), 'utf8').catch(() => '')) === lockStamp(this.token)) {
        await unlink(join(this.path, LOCK_FILE)).catch(() => {});
      }
      // Not empty (a part worth resuming, or a waiter's lock just created): left as it is.
      await rmdir(this.path).catch(() => {});
    } finally {
      heldTokens.delete(this.token);
      this.leaveTurn();
    }
  }
}

/**
 * Creates the directory, readable by its owner alone, unless it exists; then checks it is ours.
 * Its name is predictable (a hash of the delta's URL) and `workDir` defaults to the shared /tmp.
 */
async function makeOwnDirectory(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch((e: unknown) => {
    throw ioError(e, 'create the work directory', dirname(path));
  });
  await mkdir(path, { mode: 0o700 }).catch((e: unknown) => {
    if (!isCode(e, 'EEXIST')) throw ioError(e, "create the update's work folder", path);
  });
  await checkOwnDirectory(path);
}

/**
 * Refuses a directory that another local user could have prepared: a symlink (the removal of what
 * a killed run left would empty its target), or another user's. One of ours that others can write
 * (an older version made it with the umask, 775 under umask 002) is made ours alone again and
 * emptied of what others could have put there (a part file linked to any file, which the download
 * would truncate and write): refused, it was never used nor removed as stale.
 */
async function checkOwnDirectory(path: string): Promise<void> {
  const s = await lstat(path);
  const uid = process.geteuid?.();
  const why = s.isSymbolicLink()
    ? 'is a symlink'
    : !s.isDirectory()
      ? 'is not a directory'
      : uid !== undefined && s.uid !== uid
        ? `belongs to uid ${s.uid}, not this process's ${uid}`
        : undefined;
  if (why) throw new RolldeltaError(ErrorCode.UNSAFE_PATH, `the update's work folder ${path} ${why}; remove it, or give updateImage a workDir (rolldelta update --work-dir) only this user can write`);
  if (uid !== undefined && (s.mode & 0o022) !== 0) await makePrivate(path);
}

/**
 * Takes write access to our directory `path` from others, then removes what they could have put
 * in it. The mode is changed through a handle that does not follow a symlink swapped in meanwhile;
 * after it, nothing in the directory can be reached by others any more. The lock is kept: the lock
 * logic never writes through an existing one.
 */
async function makePrivate(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const s = await fh.stat();
    if ((s.mode & 0o777 & ~0o700) !== 0) await fh.chmod(0o700);
  } finally {
    await fh.close();
  }
  for (const name of await readdir(path)) {
    if (name !== LOCK_FILE) await rm(join(path, name), { recursive: true, force: true });
  }
}

/** Creates the lock file holding a new call's stamp; its token, or undefined when the lock exists already. */
async function createLock(dir: string): Promise<string | undefined> {
  const path = join(dir, LOCK_FILE);
  let fh;
  try {
    fh = await open(path, 'wx');
  } catch (e) {
    // ENOENT: the directory was removed by the holder leaving; the caller makes it again.
    if (isCode(e, 'EEXIST') || isCode(e, 'ENOENT')) return undefined;
    throw ioError(e, 'create the lock file', path);
  }
  const token = randomBytes(8).toString('hex');
  try {
    await fh.writeFile(lockStamp(token));
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw ioError(e, 'write the lock file', path);
  }
  return token;
}

async function readHolder(dir: string): Promise<Holder | undefined> {
  const path = join(dir, LOCK_FILE);
  try {
    const [text, s] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const [pidText = '', boot, token] = text.trim().split(' ');
    const pid = Number(pidText);
    return { pid: pidText !== '' && Number.isInteger(pid) && pid > 0 ? pid : undefined, boot, token, ageMs: Date.now() - s.mtimeMs };
  } catch (e) {
    if (isCode(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/**
 * Whether the lock's holder is gone: it was taken before this boot (its pid may be another
 * process's now), its pid is not alive, or is this process's own without a call of this process
 * holding it (an earlier process with the same pid left it, as an agent restarted in its own
 * container does), or it was left half written.
 */
function isStale(holder: Holder): boolean {
  if (holder.pid === undefined) return holder.ageMs > HALF_WRITTEN_MS;
  if (holder.boot !== undefined && holder.boot !== BOOT_ID) return true;
  if (holder.pid === process.pid) return holder.token === undefined || !heldTokens.has(holder.token);
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    // EPERM: alive, but another user's.
    return !isCode(e, 'EPERM');
  }
}

/**
 * Removes a stale lock, if it is still stale once this process alone may remove it; false when
 * another process is taking it over at the same time (the caller waits and looks again).
 */
async function takeOver(dir: string): Promise<boolean> {
  const guard = join(dir, TAKEOVER_FILE);
  try {
    await (await open(guard, 'wx')).close();
  } catch (e) {
    if (!isCode(e, 'EEXIST')) return false;
    const s = await stat(guard).catch(() => undefined);
    if (s && Date.now() - s.mtimeMs > HALF_WRITTEN_MS) await unlink(guard).catch(() => {});
    return false;
  }
  try {
    // Looked at again under the guard: between the first look and now, another waiter may have
    // removed the stale lock and created its own.
    const holder = await readHolder(dir);
    if (holder !== undefined && isStale(holder)) await unlink(join(dir, LOCK_FILE)).catch(() => {});
    return true;
  } finally {
    await unlink(guard).catch(() => {});
  }
}

function isCode(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}
