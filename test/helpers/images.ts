import { readFileSync, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DockerEngine } from '../../src/docker/engine.js';
import { BUSYBOX } from './dockerd.js';

/** One entry of a test tar: a directory, a regular file or a symlink. */
export type TarEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array | string; mode?: number }
  | { type: 'symlink'; path: string; target: string };

/** Fixed mtime so that the same entries always give the same bytes (and the same layer digest). */
const MTIME = 1_700_000_000;

/**
 * A plain ustar archive of `entries` (names up to 100 bytes), independent of the project's own tar
 * code so that the images it builds are a trustworthy reference.
 * @example
 * const tar = makeTar([{ type: 'file', path: 'a.txt', data: 'hi\n' }]);
 */
export function makeTar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const e of entries) {
    const data = e.type === 'file' ? (typeof e.data === 'string' ? enc.encode(e.data) : e.data) : new Uint8Array(0);
    const h = new Uint8Array(512);
    const put = (off: number, len: number, s: string): void => {
      const b = enc.encode(s);
      if (b.length > len) throw new Error(`tar field too long: ${s}`);
      h.set(b, off);
    };
    const octal = (off: number, len: number, n: number): void => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
    const name = e.type === 'dir' && !e.path.endsWith('/') ? e.path + '/' : e.path;
    put(0, 100, name);
    octal(100, 8, e.type === 'symlink' ? 0o777 : (e.mode ?? (e.type === 'dir' ? 0o755 : 0o644)));
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, data.length);
    octal(136, 12, MTIME);
    h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
    put(156, 1, e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0');
    if (e.type === 'symlink') put(157, 100, e.target);
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    put(265, 32, 'root');
    put(297, 32, 'root');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i];
    put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h);
    if (data.length > 0) {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  let n = 0;
  for (const b of blocks) n += b.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** Applets linked in the test rootfs; sh/cat/ls/echo are what tests rely on, the rest are handy. */
const APPLETS = ['sh', 'cat', 'ls', 'echo', 'true', 'false', 'mkdir', 'rm', 'cp', 'mv', 'wc', 'head', 'sha256sum', 'dd', 'env', 'sleep'];

/**
 * A minimal root filesystem tar: /bin/busybox (from busybox-static) with applet symlinks, /etc/passwd
 * and /etc/group, /tmp. About 2 MB; identical bytes on every call.
 * @example
 * await engine.importImage(Readable.from([busyboxRootfsTar()]), 'busybox:test');
 */
export function busyboxRootfsTar(): Uint8Array {
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: readFileSync(BUSYBOX), mode: 0o755 },
    ...APPLETS.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { type: 'file', path: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ];
  return makeTar(entries);
}

/**
 * Imports the busybox rootfs as a one-layer image; returns its ID.
 * @example
 * const id = await importBusybox(d.engine, 'busybox:test');
 */
export function importBusybox(engine: DockerEngine, tag: string): Promise<string> {
  return engine.importImage(Readable.from([busyboxRootfsTar()]), tag);
}

/**
 * Builds `tag` from a context holding `files` and a Dockerfile. `dockerfile` is either a whole
 * Dockerfile (starting with FROM) or the steps to put after `FROM baseTag`; default `COPY . /app/`.
 * Returns the image ID.
 * @example
 * await buildApp(engine, 'busybox:test', 'app:1', { 'a.txt': 'v1' }, 'COPY a.txt /a.txt\nRUN echo hi > /x');
 */
export function buildApp(engine: DockerEngine, baseTag: string, tag: string, files: Record<string, string | Uint8Array>, dockerfile = 'COPY . /app/'): Promise<string> {
  const text = /^\s*FROM\s/i.test(dockerfile) ? dockerfile : `FROM ${baseTag}\n${dockerfile}\n`;
  const entries: TarEntry[] = [{ type: 'file', path: 'Dockerfile', data: text }];
  const dirs = new Set<string>();
  for (const name of Object.keys(files).sort()) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: 'dir', path: d });
      }
    }
    entries.push({ type: 'file', path: name, data: files[name] });
  }
  return engine.buildImage(Readable.from([makeTar(entries)]), tag);
}

/**
 * `docker save` streamed into a file; returns its size in bytes.
 * @example
 * const bytes = await saveToFile(engine, ['app:1'], '/tmp/app-1.tar');
 */
export async function saveToFile(engine: DockerEngine, refs: string[], path: string): Promise<number> {
  await pipeline(await engine.saveImages(refs), createWriteStream(path));
  return (await stat(path)).size;
}
