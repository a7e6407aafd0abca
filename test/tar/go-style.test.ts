import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TarWriter } from '../../src/tar/writer.js';
import { encodeHeader } from '../../src/tar/encode-header.js';
import { readTar, writeTar } from '../../src/tar/archive.js';
import { bytes, byteByByte, pass, sha256, tarList } from './_helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-gotar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();
const oct = (v: number, width: number): string => v.toString(8).padStart(width - 1, '0') + '\0';

interface GoFields {
  name: string;
  typeflag: string;
  size?: number;
  mode?: number;
  mtime?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
}

/** One header block laid out by hand as Go's archive/tar writes USTAR (independent of encodeHeader). */
function goHeader(f: GoFields): Uint8Array {
  const b = new Uint8Array(512);
  const put = (off: number, s: string) => b.set(enc.encode(s), off);
  put(0, f.name);
  put(100, oct(f.mode ?? 0o644, 8));
  put(108, oct(0, 8));
  put(116, oct(0, 8));
  put(124, oct(f.size ?? 0, 12));
  put(136, oct(f.mtime ?? 1700000000, 12));
  put(156, f.typeflag);
  put(157, f.linkname ?? '');
  put(257, 'ustar\x0000');
  put(265, f.uname ?? '');
  put(297, f.gname ?? '');
  if (f.typeflag !== 'x') {
    // Go's writeRawFile (pax headers) leaves the device fields empty
    put(329, oct(0, 8));
    put(337, oct(0, 8));
  }
  put(148, '        ');
  const sum = b.reduce((a, x) => a + x, 0);
  put(148, oct(sum, 7) + ' ');
  return b;
}

function padTo512(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

const NONASCII = 'app/ünï.txt'; // a non-ASCII name: Go writes it through pax
const content = { a: bytes(100, 11), b512: bytes(512, 12), big: bytes(1025, 13), ua: enc.encode('unicode\n') };
const paxBody = enc.encode(` path=${NONASCII}\n`).length; // 20 bytes, + 2 length digits
const paxData = enc.encode(`${paxBody + 2} path=${NONASCII}\n`);

/** A layer as Go writes it: USTAR headers, one pax x header, exactly two zero blocks at the end. */
function goLayer(): Uint8Array {
  expect(new TextDecoder().decode(paxData)).toMatch(/^\d+ path=/);
  expect(Number(new TextDecoder().decode(paxData).split(' ')[0])).toBe(paxData.length);
  const parts: Uint8Array[] = [
    goHeader({ name: 'app/', typeflag: '5', mode: 0o755 }),
    goHeader({ name: 'app/a.txt', typeflag: '0', size: 100 }),
    padTo512(content.a),
    goHeader({ name: 'app/b512', typeflag: '0', size: 512 }),
    content.b512,
    goHeader({ name: 'app/.wh.old', typeflag: '0' }),
    goHeader({ name: 'app/sub/.wh..wh..opq', typeflag: '0' }),
    goHeader({ name: 'app/env', typeflag: '2', mode: 0o777, linkname: '/usr/bin/env' }), // absolute symlink targets are normal
    goHeader({ name: 'app/up', typeflag: '2', mode: 0o777, linkname: '../lib/x' }),
    goHeader({ name: 'app/hl', typeflag: '1', linkname: 'app/a.txt' }),
    goHeader({ name: 'app/PaxHeaders.0/n.txt', typeflag: 'x', size: paxData.length, mode: 0, mtime: 0 }),
    padTo512(paxData),
    goHeader({ name: 'app/n.txt', typeflag: '0', size: 8 }),
    padTo512(content.ua),
    goHeader({ name: 'app/big', typeflag: '0', size: 1025, uname: 'root', gname: 'root' }),
    padTo512(content.big),
    new Uint8Array(1024),
  ];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('Go-style layer (USTAR, pax, exactly two zero blocks)', () => {
  const layer = goLayer();

  it('parses every field and round-trips byte for byte', () => {
    const r = pass([layer]);
    expect(sha256(r.out)).toBe(sha256(layer));
    expect(r.trailer).toEqual(new Uint8Array(1024));
    expect(r.entries.map((e) => [e.name, e.type, e.size, e.linkname])).toEqual([
      ['app/', 'directory', 0, ''],
      ['app/a.txt', 'file', 100, ''],
      ['app/b512', 'file', 512, ''],
      ['app/.wh.old', 'file', 0, ''],
      ['app/sub/.wh..wh..opq', 'file', 0, ''],
      ['app/env', 'symlink', 0, '/usr/bin/env'],
      ['app/up', 'symlink', 0, '../lib/x'],
      ['app/hl', 'hardlink', 0, 'app/a.txt'],
      [NONASCII, 'file', 8, ''],
      ['app/big', 'file', 1025, ''],
    ]);
    const big = r.entries[9];
    expect(big).toMatchObject({ mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: 1700000000, devmajor: 0, devminor: 0 });
    expect(r.entries[0].mode).toBe(0o755);
    expect(r.entries[8].pax).toEqual({ path: NONASCII });
    expect(r.entries[8].headerBlocks.length).toBe(3 * 512);
    expect(r.data.get(big)).toBe(sha256(content.big));
    expect(r.entries.map((e) => [e.isWhiteout, e.isOpaqueWhiteout]).slice(3, 5)).toEqual([
      [true, false],
      [true, true],
    ]);
  });

  it('round-trips with one-byte pushes', () => {
    expect(sha256(pass(byteByByte(layer)).out)).toBe(sha256(layer));
  });

  it('GNU tar lists it the same way', () => {
    const file = join(dir, 'go.tar');
    writeFileSync(file, layer);
    expect(tarList(file).map((l) => l.name)).toEqual(pass([layer]).entries.map((e) => e.name));
  });

  it('encodeHeader reproduces Go\'s header blocks exactly', () => {
    const { items } = readTar(layer);
    for (const it of items) {
      if (it.kind !== 'entry') continue;
      const e = it.entry;
      const rebuilt = encodeHeader({
        name: e.name,
        type: e.type,
        size: e.size,
        mode: e.mode,
        mtime: e.mtime,
        linkname: e.linkname,
        uname: e.uname,
        gname: e.gname,
      });
      expect(sha256(rebuilt), e.name).toBe(sha256(e.headerBlocks));
    }
  });
});

describe('encodeHeader for entries made from scratch', () => {
  const cases = [
    { name: 'short.txt', type: 'file' as const, size: 3 },
    { name: 'x/'.repeat(60) + 'f', type: 'file' as const, size: 3 }, // splits into prefix/name
    { name: 'y'.repeat(180), type: 'file' as const, size: 3 }, // cannot split: pax path
    { name: 'ln', type: 'symlink' as const, size: 0, linkname: 'z'.repeat(150) },
    { name: 'big-ids', type: 'file' as const, size: 3, uid: 70_000_000, gid: 3, uname: 'ü'.repeat(20) },
    { name: 'frac', type: 'file' as const, size: 3, mtime: 1700000000.5 },
    { name: 'dev', type: 'chardev' as const, size: 0, devmajor: 1, devminor: 3 },
    { name: 'd/', type: 'directory' as const, size: 0 },
  ];

  it('GNU tar and our reader read back what was put in', () => {
    const parts: Uint8Array[] = [];
    const w = new TarWriter((c) => parts.push(c.slice()));
    for (const c of cases) {
      w.beginEntry(TarWriter.encodeHeader(c), c.size);
      w.write(enc.encode('abc').subarray(0, c.size));
      w.endEntry();
    }
    w.finish();
    const archive = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      archive.set(p, o);
      o += p.length;
    }
    expect(archive.length % 512).toBe(0);
    const file = join(dir, 'made.tar');
    writeFileSync(file, archive);
    const listed = tarList(file);
    expect(listed.map((l) => l.name)).toEqual(cases.map((c) => c.name));
    const { items, trailer } = readTar(archive);
    expect(trailer).toEqual(new Uint8Array(1024));
    const entries = items.flatMap((it) => (it.kind === 'entry' ? [it.entry] : []));
    entries.forEach((e, i) => {
      const c = cases[i];
      expect(e).toMatchObject({ name: c.name, type: c.type, size: c.size, linkname: c.linkname ?? '' });
    });
    expect(entries[1].headerBlocks.length).toBe(512); // prefix split, no pax
    expect(entries[2].headerBlocks.length).toBeGreaterThan(512);
    expect(entries[4]).toMatchObject({ uid: 70_000_000, uname: 'ü'.repeat(20) });
    expect(entries[5].mtime).toBe(1700000000.5);
    expect(entries[6]).toMatchObject({ devmajor: 1, devminor: 3 });
    expect(sha256(writeTar(readTar(archive)))).toBe(sha256(archive));
  });
});
