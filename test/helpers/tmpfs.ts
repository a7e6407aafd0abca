import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requirePeer, type PeerCheck } from './peers.js';

/** A small tmpfs, a disk that fills up for real; `peer` says whether it could be mounted. */
export interface Tmpfs {
  /** The mount point (an empty directory when the mount failed). */
  dir: string;
  peer: PeerCheck;
  /** Unmounts it and removes its directory; safe to call when it was never mounted. */
  remove(): void;
}

/**
 * Mounts a tmpfs of `size` (`1m`, `64k`) on a fresh directory. Mounting needs root: without it the
 * tests skip, saying so, except under CI=true where they fail (see requirePeer).
 * @example
 * const disk = mountTmpfs('1m');
 * afterAll(() => disk.remove());
 * describe.skipIf(disk.peer.skip)(`on a full disk ${disk.peer.message}`, () => { ... });
 */
export function mountTmpfs(size: string): Tmpfs {
  const root = mkdtempSync(join(tmpdir(), 'rolldelta-tmpfs-'));
  const dir = join(root, 'disk');
  mkdirSync(dir);
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = `mounting a ${size} tmpfs needs root; run the tests as root`;
  else {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (e) {
      reason = `mount -t tmpfs failed (a container without CAP_SYS_ADMIN?): ${(e as Error).message}`;
    }
  }
  const peer = requirePeer('a tmpfs mount', reason);
  return {
    dir,
    peer,
    remove: () => {
      if (reason === undefined) execFileSync('umount', [dir]);
      reason = 'removed';
      rmSync(root, { recursive: true, force: true });
    },
  };
}
