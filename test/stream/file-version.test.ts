// perFileVersion: one computation per version of a file, however many ask; a failure not kept.
import { mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { perFileVersion, type PerVersion } from '../../src/stream/file-version.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-file-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('perFileVersion', () => {
  it('computes once for callers at the same time, again once the file changes, and again after a failure', async () => {
    const path = join(dir, 'f');
    writeFileSync(path, 'one');
    const cache = new Map<string, PerVersion<number>>();
    let runs = 0;
    const compute = async () => ++runs;
    const st1 = statSync(path);
    expect(await Promise.all([1, 2, 3].map(() => perFileVersion(cache, path, st1, compute)))).toEqual([1, 1, 1]);
    writeFileSync(`${path}.new`, 'two, longer');
    renameSync(`${path}.new`, path);
    const st2 = statSync(path);
    expect(await perFileVersion(cache, path, st2, compute)).toBe(2);
    expect(await perFileVersion(cache, path, st2, compute)).toBe(2);
    const failing = async () => {
      throw new Error('no');
    };
    writeFileSync(path, 'three, longer still');
    const st3 = statSync(path);
    await expect(perFileVersion(cache, path, st3, failing)).rejects.toThrow('no');
    expect(await perFileVersion(cache, path, st3, compute)).toBe(3);
    expect(cache.size).toBe(1);
  });
});
