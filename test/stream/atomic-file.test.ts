import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, RolldeltaError } from '../../src/core/errors.js';
import { writeFileAtomic } from '../../src/stream/atomic-file.js';
import { diffFile, signatureFile } from '../../src/stream/file-operations.js';
import { patchFile } from '../../src/stream/patch-file.js';

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

describe('permissions of what writeFileAtomic and patchFile write', () => {
  const modeOf = (path: string) => statSync(path).mode & 0o777;
  it('a file replaced keeps its own permissions: a private file is not made readable by all', async () => {
    const path = join(dir, 'private');
    writeFileSync(path, 'old');
    chmodSync(path, 0o600);
    await writeFileAtomic(path, chunks(2, 1000));
    expect(modeOf(path)).toBe(0o600);
    chmodSync(path, 0o664); // wider than the umask would give a new file: kept as it is
    await writeFileAtomic(path, chunks(2, 1000));
    expect(modeOf(path)).toBe(0o664);
  });

  it('a new file gets the mode asked for, and patchFile asks for the basis\'s', async () => {
    await writeFileAtomic(join(dir, 'new-private'), chunks(1, 10), { mode: 0o600 });
    expect(modeOf(join(dir, 'new-private'))).toBe(0o600);
    const basis = join(dir, 'basis-private');
    writeFileSync(basis, chunkOf(1, 5000));
    chmodSync(basis, 0o600);
    writeFileSync(join(dir, 'target'), chunkOf(2, 5000));
    await diffFile(basis, join(dir, 'target'), join(dir, 'private.rdelta'));
    await patchFile(basis, join(dir, 'private.rdelta'), join(dir, 'patched'));
    expect(modeOf(join(dir, 'patched'))).toBe(0o600);
    await patchFile(basis, join(dir, 'private.rdelta'), basis);
    expect(modeOf(basis)).toBe(0o600);
  });
});

describe('writeFileAtomic blames the side that failed', () => {
  const out = join(dir, 'blame-out');

  it("a producer's own error (a RolldeltaError, or a caller's Error) comes out as it is, not as a failure to write", async () => {
    for (const own of [new RolldeltaError(ErrorCode.CORRUPT, 'the delta is damaged'), new Error('the caller gave up')]) {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield chunkOf(0, 1000);
        throw own;
      }
      await expect(writeFileAtomic(out, failing())).rejects.toBe(own);
    }
  });

  it("a producer's bare system error (a directory read as a file) is ERR_IO about the input, not the output", async () => {
    const err = await writeFileAtomic(out, createReadStream(dir)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IO', message: `cannot read the input for ${out}: it is a directory, not a file` });
  });

  it('a failure of the output itself is "cannot write" it', async () => {
    const taken = join(dir, 'a-directory');
    mkdirSync(taken);
    // the rename over a directory fails (EISDIR) after every chunk was written
    await expect(writeFileAtomic(taken, chunks(3, 1000))).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot write ${taken}: it is a directory, not a file` });
    await expect(writeFileAtomic(join(dir, 'no-such-dir', 'x'), chunks(1, 10))).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('cannot create a temporary file in') });
    expect(readdirSync(taken)).toEqual([]);
  });

  it('signatureFile of a basis that cannot be read names the basis, not the signature it was writing', async () => {
    const basis = join(dir, 'basis-dir');
    mkdirSync(basis);
    const err = await signatureFile(basis, join(dir, 'sig')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_IO', message: `cannot read the basis ${basis}: it is a directory, not a file` });
  });
});
