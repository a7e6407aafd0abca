// The update's work folder has a predictable name (a hash of the delta's URL) inside workDir,
// which defaults to the shared /tmp: another local user must not be able to prepare it.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpdateWorkDir } from '../../src/docker/_update-work-dir.js';
import { FallbackPullError, updateImage, type DockerEngine } from '../../src/index.js';

const deltaUrl = 'http://127.0.0.1:9/delta'; // nothing listens: the download fails at once
const folderName = `rolldelta-update-${createHash('sha256').update(`${deltaUrl}?from=app%3A1&to=app%3A2`).digest('hex').slice(0, 16)}`;
/** An engine with app:1 and no registry: every update ends in a failed fallback pull. */
const engine = {
  inspectImage: async (ref: string) => (ref === 'app:1' ? { Id: `sha256:${'1'.repeat(64)}` } : undefined),
  listImages: async () => [],
  pullImage: async () => {
    throw new Error('no registry in this test');
  },
} as unknown as DockerEngine;

let shared: string;
let victim: string;
beforeEach(() => {
  const root = mkdtempSync(join(tmpdir(), 'rolldelta-workdir-'));
  shared = join(root, 'shared');
  victim = join(root, 'victim');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  mkdirSync(join(victim, 'sub'), { recursive: true });
  writeFileSync(join(victim, 'important.conf'), 'keep me');
});
afterEach(() => rmSync(join(shared, '..'), { recursive: true, force: true }));

/** The delta path's failure, as the fallback pull's error carries it. */
async function deltaError(): Promise<{ code?: string; message: string }> {
  const e = await updateImage({ engine, from: 'app:1', to: 'app:2', deltaUrl, workDir: shared, retries: 1, idleTimeoutMs: 1000 }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(FallbackPullError);
  return (e as FallbackPullError).deltaError as { code?: string; message: string };
}

describe('the update work folder', () => {
  it('refuses a symlink at the folder name instead of emptying its target', async () => {
    symlinkSync(victim, join(shared, folderName));
    expect(await deltaError()).toMatchObject({ code: 'ERR_UNSAFE_PATH', message: expect.stringContaining('is a symlink') });
    expect(readdirSync(victim).sort()).toEqual(['important.conf', 'sub']);
  });

  it('leaves a symlink that looks like a stale update folder alone', async () => {
    const planted = join(shared, 'rolldelta-update-0000000000000000');
    symlinkSync(victim, planted);
    utimesSync(victim, new Date(0), new Date(0)); // "untouched for a week"
    await deltaError();
    expect(readdirSync(victim).sort()).toEqual(['important.conf', 'sub']);
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
  });

  it('takes a folder of its own that others can write back, emptied, instead of refusing it', async () => {
    // As an older version left it under umask 002: 775, and a group member's link in it.
    const target = join(victim, 'important.conf');
    const folder = join(shared, folderName);
    mkdirSync(folder);
    chmodSync(folder, 0o775);
    symlinkSync(target, join(folder, 'update.rdimg.part'));
    writeFileSync(join(folder, 'update.rdimg.part.json'), '{}');
    const wd = await UpdateWorkDir.lock(folder);
    expect(lstatSync(folder).mode & 0o777).toBe(0o700);
    expect(readdirSync(folder)).toEqual(['lock']);
    await wd.release();
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(await deltaError()).toMatchObject({ code: 'ERR_REMOTE' }); // the unreachable server: the delta path was tried
  });

  it('removes a stale update folder of its own that others can write', async () => {
    const stale = join(shared, 'rolldelta-update-0000000000000000');
    mkdirSync(stale);
    chmodSync(stale, 0o777);
    writeFileSync(join(stale, 'update.rdimg.part'), 'old part');
    utimesSync(stale, new Date(0), new Date(0)); // untouched for a week
    await deltaError();
    expect(readdirSync(shared)).toEqual([]);
  });

  it.skipIf(process.geteuid?.() !== 0)('refuses a folder another user made', async () => {
    mkdirSync(join(shared, folderName), { mode: 0o700 });
    chownSync(join(shared, folderName), 65534, 65534);
    expect(await deltaError()).toMatchObject({ code: 'ERR_UNSAFE_PATH', message: expect.stringContaining('belongs to uid 65534') });
  });

  it('makes the folder for its owner alone; an ordinary failure still reaches the pull', async () => {
    const wd = await UpdateWorkDir.lock(join(shared, folderName));
    expect(lstatSync(wd.path).mode & 0o777).toBe(0o700);
    await wd.release();
    expect(await deltaError()).toMatchObject({ code: 'ERR_REMOTE' }); // the unreachable server
    expect(readdirSync(shared)).toEqual([]);
  });
});
