import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/stream/atomic-file.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `count` chunks of `size` bytes, each filled from its index so that order and content show. */
function chunkOf(i: number, size: number): Uint8Array {
  const c = new Uint8Array(size);
  for (let j = 0; j < size; j += 4) c[j] = (i * 31 + j) & 0xff;
  return c;
}

async function* chunks(count: number, size: number, failAt = -1): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (i === failAt) throw new Error('the producer failed');
    yield chunkOf(i, size);
  }
}

function expected(count: number, size: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < count; i++) h.update(chunkOf(i, size));
  return h.digest('hex');
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('writeFileAtomic', () => {
  it('writes every chunk in order past several background flushes (20 MiB), leaving no temporary file', async () => {
    const path = join(dir, 'big');
    expect(await writeFileAtomic(path, chunks(320, 64 << 10))).toBe(320 * (64 << 10));
    expect(sha(readFileSync(path))).toBe(expected(320, 64 << 10));
    expect(readdirSync(dir)).toEqual(['big']);
  });

  it('joins many tiny chunks into few writes, byte for byte', async () => {
    const path = join(dir, 'tiny');
    await writeFileAtomic(path, chunks(5000, 7));
    expect(sha(readFileSync(path))).toBe(expected(5000, 7));
    rmSync(path);
  });

  it('a producer failing after background flushes leaves the old file whole and no temporary file', async () => {
    const path = join(dir, 'kept');
    writeFileSync(path, 'the old content');
    const before = readdirSync(dir).sort();
    await expect(writeFileAtomic(path, chunks(400, 64 << 10, 300))).rejects.toThrow('the producer failed');
    expect(readFileSync(path, 'utf8')).toBe('the old content');
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('replaces an existing file with the new content', async () => {
    const path = join(dir, 'kept');
    await writeFileAtomic(path, chunks(3, 1000));
    expect(sha(readFileSync(path))).toBe(expected(3, 1000));
  });
});
