import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/core/errors.js';
import { writeAll } from '../../src/stream/write-all.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-write-all-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A real file handle whose writev writes at most `limit` bytes per call: short writes happen for
 * real (a signal, a disk filling up) but not on demand, and a file system that writes nothing
 * without an error (a faulty FUSE one) does not exist here. This is the one fault the test fakes.
 */
function limitedWrites(fh: FileHandle, limit: number): FileHandle {
  const writev = async (buffers: Uint8Array[]) => {
    const out: Uint8Array[] = [];
    let room = limit;
    for (const b of buffers) {
      if (room === 0) break;
      const part = b.subarray(0, Math.min(b.length, room));
      out.push(part);
      room -= part.length;
    }
    if (out.length === 0) return { bytesWritten: 0, buffers };
    return fh.writev(out);
  };
  return new Proxy(fh, { get: (t, k) => (k === 'writev' ? writev : Reflect.get(t, k, t)) });
}

const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4, 5, 6, 7, 8]), new Uint8Array([9])];

describe('writeAll', () => {
  it('writes every byte when each writev writes only part of what it is given', async () => {
    const path = join(dir, 'short');
    const fh = await open(path, 'w');
    try {
      await writeAll(limitedWrites(fh, 2), parts, path);
    } finally {
      await fh.close();
    }
    expect([...readFileSync(path)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a writev that writes nothing with bytes left is ERR_IO naming the file, not an endless loop', async () => {
    const path = join(dir, 'nothing');
    const fh = await open(path, 'w');
    try {
      const e = await writeAll(limitedWrites(fh, 0), parts, path).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: ErrorCode.IO, message: `cannot write ${path}: the file system wrote nothing and reported no error` });
    } finally {
      await fh.close();
    }
  });

  it('empty parts alone ask for no write', async () => {
    const path = join(dir, 'empty');
    const fh = await open(path, 'w');
    try {
      await writeAll(limitedWrites(fh, 0), [new Uint8Array(0), new Uint8Array(0)], path);
    } finally {
      await fh.close();
    }
    expect(readFileSync(path).length).toBe(0);
  });
});
