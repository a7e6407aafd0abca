// An update whose work directory is on a disk with no room left even for its lock file, for real:
// a 64 KiB tmpfs (mounting it needs root; skipped otherwise, saying so, failing under CI=true).
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { updateImage, type DockerEngine } from '../../src/index.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

const tmpfs = mountTmpfs('64k');
afterAll(() => tmpfs.remove());

describe.skipIf(tmpfs.peer.skip)(`updateImage with a full work directory ${tmpfs.peer.message}`, () => {
  it('pulls, saying which file could not be written, and leaves no empty folder; with room, the next run uses the folder', async () => {
    let pulled = false;
    // A stand-in engine (app:1 here; app:2 once pulled), not a real one: the fault is the work
    // folder's, and the update asks the engine nothing but an inspect and the pull around it.
    const engine = {
      inspectImage: async (ref: string) => (ref === 'app:1' ? { Id: `sha256:${'1'.repeat(64)}` } : pulled ? { Id: `sha256:${'2'.repeat(64)}` } : undefined),
      pullImage: async () => void (pulled = true),
    } as unknown as DockerEngine;
    const update = () => updateImage({ engine, from: 'app:1', to: 'app:2', deltaUrl: 'http://127.0.0.1:9/delta', workDir: tmpfs.dir, retries: 1 });
    try {
      writeFileSync(join(tmpfs.dir, 'filler'), new Uint8Array(128 << 10));
    } catch {
      // ENOSPC once the disk is full: what the test wants.
    }
    const r = await update();
    // Before: "ENOSPC: no space left on device, write", no code nor file, and the folder left.
    expect(r).toMatchObject({ action: 'pull', reason: expect.stringMatching(/^cannot write the lock file \/.*\/rolldelta-update-[0-9a-f]{16}\/lock: no space left on the device \(ERR_IO\)$/) });
    expect(readdirSync(tmpfs.dir)).toEqual(['filler']);
    rmSync(join(tmpfs.dir, 'filler'));
    pulled = false;
    const next = await update();
    expect(next).toMatchObject({ action: 'pull', reason: expect.stringContaining('cannot reach the delta server') });
    expect(readdirSync(tmpfs.dir)).toEqual([]);
  });
});
