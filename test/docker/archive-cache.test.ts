// The delta-server sources' archive cache: the most recently used kept, by mtime, none in use removed.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveCache, keepArchivesOf } from '../../src/docker/_archive-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-archive-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const name = (i: number) => `${i.toString(16).padStart(64, '0')}.tar`;

describe('ArchiveCache', () => {
  it('keeps the `keep` most recently used archives, removes the rest, and leaves other files alone', async () => {
    const d = join(dir, 'a');
    mkdirSync(d);
    const hour = 3_600_000;
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(d, name(i)), 'x');
      const t = new Date(Date.now() - (i + 1) * hour); // archive 0 used last
      utimesSync(join(d, name(i)), t, t);
    }
    writeFileSync(join(d, 'delta.rdimg'), 'd');
    writeFileSync(join(d, 'notes.tar'), 'n');
    const cache = new ArchiveCache(d, 2);
    // Archive 4, the oldest, is used again: it is kept, 1 goes instead.
    await cache.used(join(d, name(4)));
    expect(await cache.prune()).toBe(3);
    expect(readdirSync(d).sort()).toEqual([name(0), name(4), 'delta.rdimg', 'notes.tar'].sort());
    expect(await cache.prune()).toBe(0);
  });

  it('removes none used in the last minute, however many: a generation may be about to open it', async () => {
    const d = join(dir, 'b');
    mkdirSync(d);
    for (let i = 0; i < 4; i++) writeFileSync(join(d, name(i)), 'x');
    expect(await new ArchiveCache(d, 1).prune()).toBe(0);
    expect(readdirSync(d)).toHaveLength(4);
  });

  it('a missing folder prunes nothing; keepArchives must be a whole number from 1', async () => {
    expect(await new ArchiveCache(join(dir, 'none'), 1).prune()).toBe(0);
    expect(keepArchivesOf(undefined)).toBe(8);
    expect(keepArchivesOf(3)).toBe(3);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => keepArchivesOf(bad)).toThrow(/keepArchives must be a whole number from 1/);
  });
});
