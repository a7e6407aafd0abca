import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinary, requirePeer, type PeerCheck } from './peers.js';

/** Block size the file system is made with, so a file offset maps to a block and an offset in it. */
const BLOCK = 4096;

/** An ext4 file system in a file, on a loop device: its disk can be changed beneath it (bit rot). */
export interface LoopExt4 {
  /** The mount point (an empty directory when the mount failed). */
  dir: string;
  peer: PeerCheck;
  /**
   * Flips bits of byte `offset` of `file` (on this file system) in the image file beneath it, as a
   * disk that goes bad does: no write through the file system, so its size, times and inode stay.
   * The file's cached pages are dropped, so the next read gets the changed byte from the "disk".
   */
  rot(file: string, offset: number): void;
  /** Unmounts it, frees the loop device and removes its directory; safe to call when it was never mounted. */
  remove(): void;
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe', encoding: 'utf8' });

/**
 * Makes an ext4 file system of `size` (`64M`) in a file and mounts it through a loop device on a
 * fresh directory. It needs root, loop devices and e2fsprogs: without them the tests skip, saying
 * so, except under CI=true where they fail (see requirePeer).
 * @example
 * const disk = mountLoopExt4('64M');
 * afterAll(() => disk.remove());
 * describe.skipIf(disk.peer.skip)(`bit rot ${disk.peer.message}`, () => { ... disk.rot(path, 1234) ... });
 */
export function mountLoopExt4(size: string): LoopExt4 {
  const root = mkdtempSync(join(tmpdir(), 'rolldelta-ext4-'));
  const image = join(root, 'disk.img');
  const dir = join(root, 'mnt');
  mkdirSync(dir);
  let device: string | undefined;
  let mounted = false;
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = `mounting a loop device needs root; run the tests as root`;
  else reason = missingBinary('mkfs.ext4', 'e2fsprogs') ?? missingBinary('debugfs', 'e2fsprogs') ?? missingBinary('losetup', 'mount');
  if (reason === undefined) {
    try {
      run('truncate', ['-s', size, image]);
      run('mkfs.ext4', ['-q', '-b', String(BLOCK), image]);
      device = run('losetup', ['-f', '--show', image]).trim();
      run('mount', [device, dir]);
      mounted = true;
    } catch (e) {
      reason = `an ext4 loop mount failed (a container without loop devices or CAP_SYS_ADMIN?): ${(e as Error).message}`;
    }
  }
  // Each step is tried even when one before it failed, so that neither the mount nor the loop device
  // leaks: a umount refused (EBUSY: a file still open on it) falls back to a lazy one, which detaches
  // it now and lets the kernel finish once the file is closed.
  const remove = () => {
    try {
      if (mounted) {
        mounted = false;
        try {
          run('umount', [dir]);
        } catch {
          run('umount', ['-l', dir]);
        }
      }
    } finally {
      try {
        if (device !== undefined) {
          const d = device;
          device = undefined;
          run('losetup', ['-d', d]); // with the lazy umount still pending, the device is freed when it ends
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
  };
  if (reason !== undefined) remove();
  const peer = requirePeer('an ext4 loop mount', reason);
  return {
    dir,
    peer,
    remove,
    rot(file, offset) {
      // On the disk first: else the page cache's good copy would be written back over the damage.
      run('sync', []);
      const logical = Math.floor(offset / BLOCK);
      const physical = Number(run('debugfs', ['-R', `bmap <${statSync(file).ino}> ${logical}`, image]).trim());
      if (!Number.isInteger(physical) || physical <= 0) throw new Error(`debugfs found no block for block ${logical} of ${file}`);
      const at = physical * BLOCK + (offset % BLOCK);
      const fd = openSync(image, 'r+');
      try {
        const b = Buffer.alloc(1);
        readSync(fd, b, 0, 1, at);
        b[0] ^= 0x10;
        writeSync(fd, b, 0, 1, at);
      } finally {
        closeSync(fd);
      }
      // Drops the file's (clean) cached pages: the next read goes to the loop device, then the image.
      run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    },
  };
}
