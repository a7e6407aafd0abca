import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TarEntry } from '../../src/tar/entry.js';
import { readTar, writeTar } from '../../src/tar/archive.js';
import { TarReader } from '../../src/tar/reader.js';
import { LONG_NAME, LONG_TARGET, SPLIT_PATH, byteByByte, cutAt, gnuTar, makeTree, pass, sha256, tarList, type TreeOptions } from './_helpers.js';

interface Case {
  id: string;
  tree: TreeOptions;
  args: string[];
}

const CASES: Case[] = [
  { id: 'v7', tree: {}, args: ['--format=v7'] },
  { id: 'ustar', tree: { split: true, special: true }, args: ['--format=ustar'] },
  { id: 'ustar-b64', tree: { split: true }, args: ['--format=ustar', '-b', '64'] },
  { id: 'oldgnu', tree: { split: true, long: true, special: true, sparse: true }, args: ['--format=oldgnu', '-S'] },
  { id: 'gnu', tree: { split: true, long: true, special: true, sparse: true }, args: ['--format=gnu', '-S'] },
  { id: 'gnu-b1', tree: { long: true }, args: ['--format=gnu', '-b', '1'] },
  { id: 'pax', tree: { split: true, long: true, special: true, sparse: true }, args: ['--format=pax', '-S'] },
  { id: 'pax-global', tree: { long: true }, args: ['--format=pax', '--pax-option=comment=hello,globexthdr.name=%n.g'] },
];

const root = mkdtempSync(join(tmpdir(), 'rolldelta-tar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const archives = new Map<string, { file: string; bytes: Uint8Array; chardev: boolean }>();
beforeAll(() => {
  for (const c of CASES) {
    const src = join(root, c.id);
    const { chardev } = makeTree(src, c.tree);
    const file = join(root, `${c.id}.tar`);
    gnuTar([...c.args, '--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-C', src, '-cf', file, '.']);
    archives.set(c.id, { file, bytes: new Uint8Array(readFileSync(file)), chardev });
  }
});

const TYPE_CHARS: Record<string, TarEntry['type'][]> = {
  '-': ['file', 'other'],
  d: ['directory'],
  l: ['symlink'],
  h: ['hardlink'],
  p: ['fifo'],
  c: ['chardev'],
};

describe.each(CASES)('GNU tar $id archive', (c) => {
  it('read -> write gives the same bytes, and fields match tar -tvf', () => {
    const { file, bytes, chardev } = archives.get(c.id)!;
    const r = pass([bytes]);
    expect(sha256(r.out)).toBe(sha256(bytes));
    const listed = tarList(file);
    expect(r.entries.map((e) => e.name)).toEqual(listed.map((l) => l.name));
    r.entries.forEach((e, i) => {
      const l = listed[i];
      expect(TYPE_CHARS[l.typeChar], `${e.name}: ${l.typeChar} vs ${e.type}`).toContain(e.type);
      if (l.typeChar === '-' && e.type === 'file' && e.pax['GNU.sparse.major'] === undefined) expect(String(e.size)).toBe(l.size);
      if (l.typeChar === 'c') expect(`${e.devmajor},${e.devminor}`).toBe(l.size);
      expect(e.mtime).toBe(1700000000);
      // offsets point at the verbatim blocks and the content
      expect(sha256(bytes.subarray(e.headerOffset, e.headerOffset + e.headerBlocks.length))).toBe(sha256(e.headerBlocks));
      expect(e.dataOffset).toBe(e.headerOffset + e.headerBlocks.length);
      expect(r.data.get(e)).toBe(sha256(bytes.subarray(e.dataOffset, e.dataOffset + e.size)));
    });
    const names = new Set(r.entries.map((e) => e.name));
    expect(names.has('./dir/b513') && names.has('./dir/empty') && names.has('./ünï.txt')).toBe(true);
    expect(r.entries.find((e) => e.name === './dir/sym')!.linkname).toBe('one');
    expect(r.entries.find((e) => e.name === './dir/hard')?.linkname ?? r.entries.find((e) => e.name === './dir/b513')!.linkname).toMatch(/^\.\/dir\/(b513|hard)$/);
    expect(r.entries.filter((e) => e.isWhiteout).map((e) => e.name).sort()).toEqual(['./dir/.wh.foo', './dir/sub/.wh..wh..opq']);
    expect(r.entries.filter((e) => e.isOpaqueWhiteout).map((e) => e.name)).toEqual(['./dir/sub/.wh..wh..opq']);
    if (c.tree.split) expect(names.has(`./${SPLIT_PATH}`)).toBe(true);
    if (c.tree.long) {
      expect(names.has(`./dir/${LONG_NAME}`)).toBe(true);
      expect(r.entries.find((e) => e.name === './dir/longlink')!.linkname).toBe(LONG_TARGET);
      const hl = r.entries.find((e) => e.type === 'hardlink' && e.linkname.length > 100 || e.name.length > 100 && e.type === 'hardlink');
      expect(hl).toBeDefined();
    }
    if (c.tree.special) {
      expect(r.entries.some((e) => e.type === 'fifo')).toBe(true);
      if (chardev) expect(r.entries.find((e) => e.type === 'chardev')).toMatchObject({ devmajor: 1, devminor: 3 });
    }
    if (c.tree.sparse) {
      const sp = r.entries.find((e) => e.name === './dir/sparse')!;
      expect(sp).toBeDefined();
      if (c.id !== 'pax') {
        expect(String.fromCharCode(sp.typeflag)).toBe('S');
        expect(sp.headerBlocks.length).toBeGreaterThan(512); // extension blocks kept verbatim
      }
    }
    if (c.id === 'pax-global') {
      expect(r.globals).toEqual([{ comment: 'hello' }]);
      expect(r.entries.every((e) => e.pax.comment === 'hello')).toBe(true);
    }
    // trailer: everything after the last entry, zero blocks and record padding
    const last = r.entries[r.entries.length - 1];
    const end = last.dataOffset + last.size + ((512 - (last.size % 512)) % 512);
    expect(r.trailer.length).toBe(bytes.length - end);
    expect(r.trailer.length).toBeGreaterThanOrEqual(1024);
    const record = c.args.includes('-b') ? 512 * Number(c.args[c.args.indexOf('-b') + 1]) : 10240;
    expect(bytes.length % record).toBe(0);
    expect(r.trailer.every((x) => x === 0)).toBe(true);
  });

  it('any chunking gives the same bytes and the same entries', () => {
    const { bytes } = archives.get(c.id)!;
    const whole = pass([bytes]);
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }), (cuts) => {
        const r = pass(cutAt(bytes, cuts));
        expect(sha256(r.out)).toBe(sha256(bytes));
        expect(r.entries.map((e) => [e.name, e.size, e.headerOffset])).toEqual(whole.entries.map((e) => [e.name, e.size, e.headerOffset]));
        expect([...r.data.values()]).toEqual([...whole.data.values()]);
      }),
      { numRuns: 25 },
    );
  });

  it('keeps its own copies of what it holds when the source reuses one Buffer for every chunk', () => {
    // Buffer's slice() shares memory: header blocks and the trailer kept as slices of a reused
    // read buffer would be overwritten by the next read.
    const { bytes } = archives.get(c.id)!;
    const whole = pass([bytes]);
    const entries: TarEntry[] = [];
    let trailer: Uint8Array | undefined;
    const r = new TarReader({ onentry: (e) => void entries.push(e), ondata() {}, onend: (t) => void (trailer = t) });
    const scratch = Buffer.alloc(3000);
    for (let at = 0; at < bytes.length; at += scratch.length) {
      const n = Math.min(scratch.length, bytes.length - at);
      scratch.set(bytes.subarray(at, at + n));
      r.push(scratch.subarray(0, n));
      scratch.fill(0xaa);
    }
    r.push(new Uint8Array(0), true);
    const kept = (es: TarEntry[]) => es.map((e) => [e.name, sha256(e.headerBlocks), e.paddingBytes && sha256(e.paddingBytes)]);
    expect(kept(entries)).toEqual(kept(whole.entries));
    expect(sha256(trailer!)).toBe(sha256(whole.trailer));
  });

  it('whole-buffer readTar/writeTar round-trips', () => {
    const { bytes } = archives.get(c.id)!;
    expect(sha256(writeTar(readTar(bytes)))).toBe(sha256(bytes));
  });
});

describe('one-byte pushes', () => {
  it.each(['v7', 'pax-global', 'gnu'])('%s', (id) => {
    const { bytes } = archives.get(id)!;
    const r = pass(byteByByte(bytes));
    expect(sha256(r.out)).toBe(sha256(bytes));
    expect(r.maxBuffered).toBeLessThanOrEqual(2 * 10240);
  });
});
