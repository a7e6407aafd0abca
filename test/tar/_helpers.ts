import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, linkSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { TarEntry } from '../../src/tar/entry.js';
import { TarReader, type TarReaderOptions } from '../../src/tar/reader.js';
import { TarWriter } from '../../src/tar/writer.js';
import { noise } from '../helpers/noise.js';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes. */
export const bytes = noise;

export interface TreeOptions {
  /** ustar-splittable long paths (prefix + name). */
  split?: boolean;
  /** names and link targets over 100 bytes that need GNU L/K or pax. */
  long?: boolean;
  /** special files: fifo, char device. */
  special?: boolean;
  /** a sparse file with more than 4 holes (GNU sparse extension blocks). */
  sparse?: boolean;
}

export const LONG_NAME = 'L'.repeat(150) + '.txt';
export const LONG_TARGET = 'T'.repeat(120) + '/' + 'u'.repeat(60);
export const SPLIT_PATH = 'p'.repeat(50) + '/' + 'q'.repeat(50) + '/' + 'r'.repeat(40);

/** Builds the test tree under `root`; returns whether a char device could be made. */
export function makeTree(root: string, o: TreeOptions): { chardev: boolean } {
  mkdirSync(join(root, 'dir/sub'), { recursive: true });
  writeFileSync(join(root, 'dir/empty'), new Uint8Array(0));
  writeFileSync(join(root, 'dir/one'), bytes(1, 2));
  writeFileSync(join(root, 'dir/b511'), bytes(511, 3));
  writeFileSync(join(root, 'dir/b512'), bytes(512, 4));
  writeFileSync(join(root, 'dir/b513'), bytes(513, 5));
  writeFileSync(join(root, 'dir/big'), bytes(70_000, 6));
  writeFileSync(join(root, 'dir/.wh.foo'), new Uint8Array(0));
  writeFileSync(join(root, 'dir/sub/.wh..wh..opq'), new Uint8Array(0));
  writeFileSync(join(root, 'ünï.txt'), 'unicode\n');
  symlinkSync('one', join(root, 'dir/sym'));
  linkSync(join(root, 'dir/b513'), join(root, 'dir/hard'));
  if (o.split) {
    mkdirSync(join(root, SPLIT_PATH, '..'), { recursive: true });
    writeFileSync(join(root, SPLIT_PATH), 'split\n');
  }
  if (o.long) {
    writeFileSync(join(root, 'dir', LONG_NAME), bytes(1000, 7));
    symlinkSync(LONG_TARGET, join(root, 'dir/longlink'));
    linkSync(join(root, 'dir', LONG_NAME), join(root, 'dir/hard-to-long'));
  }
  let chardev = false;
  if (o.special) {
    execFileSync('mkfifo', [join(root, 'dir/fifo')]);
    try {
      execFileSync('mknod', [join(root, 'dir/null'), 'c', '1', '3'], { stdio: 'ignore' });
      chardev = true;
    } catch {
      chardev = false; // not root: skip the device
    }
  }
  if (o.sparse) {
    const fd = openSync(join(root, 'dir/sparse'), 'w');
    ftruncateSync(fd, 1 << 20);
    for (let i = 1; i <= 10; i++) writeSync(fd, bytes(100, i), 0, 100, i * 90_000);
    closeSync(fd);
  }
  return { chardev };
}

/** Runs GNU tar with a fixed order and fixed times, so archives are reproducible. */
export function gnuTar(args: string[], cwd?: string): Buffer {
  return execFileSync('tar', args, { cwd, maxBuffer: 1 << 28 });
}

export interface ListedEntry {
  typeChar: string;
  size: string;
  name: string;
}

/** Parses `tar -tvf` lines: type character, size column, name (link part stripped). */
export function tarList(file: string): ListedEntry[] {
  const out = gnuTar(['--quoting-style=literal', '-tvf', file]).toString('utf8');
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^(\S)\S*\s+\S+\s+(\S+)\s+\S+\s+\S+\s(.*)$/.exec(l);
      if (!m) throw new Error(`unparsed tar -tv line: ${l}`);
      let name = m[3];
      if (m[1] === 'l') name = name.slice(0, name.indexOf(' -> '));
      if (m[1] === 'h') name = name.slice(0, name.indexOf(' link to '));
      return { typeChar: m[1], size: m[2], name };
    });
}

export interface Pass {
  out: Uint8Array;
  entries: TarEntry[];
  data: Map<TarEntry, string>;
  globals: Record<string, string>[];
  trailer: Uint8Array;
  maxBuffered: number;
}

/** Pushes `chunks` through a TarReader into a TarWriter; returns what came out and what was seen. */
export function pass(chunks: Iterable<Uint8Array>, opts?: TarReaderOptions): Pass {
  const parts: Uint8Array[] = [];
  const w = new TarWriter((c) => parts.push(c.slice()));
  const entries: TarEntry[] = [];
  const data = new Map<TarEntry, string>();
  const hashes = new Map<TarEntry, ReturnType<typeof createHash>>();
  const globals: Record<string, string>[] = [];
  let trailer: Uint8Array | undefined;
  let maxBuffered = 0;
  const r = new TarReader(
    {
      onentry(e) {
        entries.push(e);
        hashes.set(e, createHash('sha256'));
        w.beginEntry(e.headerBlocks, e.size);
      },
      ondata(e, chunk, final) {
        hashes.get(e)!.update(chunk);
        w.write(chunk);
        if (final) {
          data.set(e, hashes.get(e)!.digest('hex'));
          w.endEntry(e.paddingBytes);
        }
      },
      onglobal(blocks, records) {
        globals.push(records);
        w.writeRaw(blocks);
      },
      onend(t) {
        trailer = t;
        w.finish(t);
      },
    },
    opts,
  );
  const list = [...chunks];
  list.forEach((c, i) => {
    r.push(c, i === list.length - 1);
    maxBuffered = Math.max(maxBuffered, r.bufferedBytes);
  });
  if (list.length === 0) r.push(new Uint8Array(0), true);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { out, entries, data, globals, trailer: trailer!, maxBuffered };
}

/** Cuts `a` at the given sorted fractions in [0, 1]. */
export function cutAt(a: Uint8Array, fractions: number[]): Uint8Array[] {
  const points = fractions.map((f) => Math.floor(f * a.length)).sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(a.subarray(prev, p));
    prev = p;
  }
  out.push(a.subarray(prev));
  return out;
}

/** One-byte chunks. */
export function* byteByByte(a: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < a.length; i++) yield a.subarray(i, i + 1);
}
