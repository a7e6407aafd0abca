import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiffDelta } from '../../src/format/diff-delta.js';
import { diff, patch } from '../../src/format/operations.js';
import { FileBasis } from '../../src/stream/file-basis.js';
import { patchFile } from '../../src/stream/file-operations.js';
import { patchChunks } from '../../src/stream/patch-stream.js';
import { prng } from '../core/_diff-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-pf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('patchFile checks the basis hash only when the target fails', () => {
  const basis = prng(300_000, 1);
  const target = prng(300_000, 1).map((b, i) => (i % 5000 === 0 ? b ^ 1 : b));
  const delta = diff(basis, target);
  writeFileSync(join(dir, 'd'), delta);

  it('patches the right basis', async () => {
    writeFileSync(join(dir, 'b'), basis);
    await patchFile(join(dir, 'b'), join(dir, 'd'), join(dir, 'out'));
    expect(Buffer.compare(readFileSync(join(dir, 'out')), target)).toBe(0);
  });

  it('names a wrong basis of the right length as ERR_BASIS_MISMATCH, and leaves no output', async () => {
    writeFileSync(join(dir, 'wrong'), prng(300_000, 2));
    await expect(patchFile(join(dir, 'wrong'), join(dir, 'd'), join(dir, 'out2'))).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
    expect(existsSync(join(dir, 'out2'))).toBe(false);
  });

  it('names a damaged delta on the right basis as ERR_CHECKSUM', async () => {
    writeFileSync(join(dir, 'b'), basis);
    // A literal byte flipped inside a frame would fail its CRC: damage the trailer's target hash instead.
    const bad = delta.slice();
    bad[bad.length - 10] ^= 1;
    writeFileSync(join(dir, 'd2'), bad);
    await expect(patchFile(join(dir, 'b'), join(dir, 'd2'), join(dir, 'out3'))).rejects.toMatchObject({ code: expect.stringMatching(/ERR_CHECKSUM|ERR_CORRUPT/) });
    expect(existsSync(join(dir, 'out3'))).toBe(false);
  });
});

describe('patch output in 1 MiB chunks (reads straight into them)', () => {
  // Copies out of order, adds, literals and runs that cross chunk boundaries, over several MiB.
  const MiB = 1 << 20;
  const basis = prng(6 * MiB, 3);
  const target = new Uint8Array(7 * MiB + 12_357);
  target.set(basis.subarray(5 * MiB, 6 * MiB), 0);
  target.set(prng(MiB + 17, 4), MiB);
  target.set(basis.subarray(0, 3 * MiB), 2 * MiB + 17);
  for (let i = 2 * MiB + 17; i < 5 * MiB; i += 97) target[i] ^= 0x40; // adds, or short literals
  target.set(basis.subarray(3 * MiB + 5, 5 * MiB + 12_345), 5 * MiB + 17);
  const delta = diff(basis, target);

  it('patchFile (reusing three chunk buffers) writes exactly the target', async () => {
    writeFileSync(join(dir, 'big-b'), basis);
    writeFileSync(join(dir, 'big-d'), delta);
    await patchFile(join(dir, 'big-b'), join(dir, 'big-d'), join(dir, 'big-out'));
    expect(Buffer.compare(readFileSync(join(dir, 'big-out')), target)).toBe(0);
  });

  it('patchChunks with a ring of n buffers: a consumer done with a chunk before the (n-1)th after it gets every byte', async () => {
    writeFileSync(join(dir, 'big-b'), basis);
    const fb = await FileBasis.open(join(dir, 'big-b'));
    try {
      // Holds each chunk until n-2 more have come (with four: as a writer with one write in
      // flight and one chunk held back would), copying it only then, as n buffers allow.
      for (const n of [3, 4, 5]) {
        const held: Uint8Array[] = [];
        const copies: Uint8Array[] = [];
        for await (const c of patchChunks(fb, [delta], {}, n)) {
          held.push(c);
          if (held.length > n - 2) copies.push(held.shift()!.slice());
        }
        copies.push(...held.map((c) => c.slice()));
        expect(Buffer.compare(Buffer.concat(copies), target), `ring of ${n}`).toBe(0);
      }
      const bad = await (async () => {
        for await (const _ of patchChunks(fb, [delta], {}, 2)) void _;
      })().catch((e: unknown) => e);
      expect((bad as { code?: string }).code).toBe('ERR_INVALID_ARGUMENT');
    } finally {
      await fb.close();
    }
  });

  it('patchChunks hands out fresh chunks a consumer may keep', async () => {
    writeFileSync(join(dir, 'big-b'), basis);
    const fb = await FileBasis.open(join(dir, 'big-b'));
    try {
      const kept: Uint8Array[] = [];
      for await (const c of patchChunks(fb, [delta])) kept.push(c);
      expect(kept.slice(0, -1).every((c) => c.length === MiB)).toBe(true);
      expect(Buffer.compare(Buffer.concat(kept), target)).toBe(0);
    } finally {
      await fb.close();
    }
  });
});

describe('a delta without a basis digest, and patching without the target hash', () => {
  // As image deltas are made: the header names the basis length only, since the container
  // identifies the basis (the old image's DiffIDs) and checks what is written (each layer's).
  const basis = prng(200_000, 5);
  const target = basis.map((b, i) => (i % 4000 === 7 ? b ^ 0x21 : b));
  const chunks: Uint8Array[] = [];
  const d = new DiffDelta(basis, (c) => chunks.push(c.slice()), { basisSha256: false });
  d.push(target);
  d.finish();
  const delta = Buffer.concat(chunks);
  const sameLength = basis.map((b, i) => (i === 100_003 ? b ^ 1 : b));

  async function viaStream(b: Uint8Array, opts: Parameters<typeof patchChunks>[2] = {}): Promise<Buffer> {
    const out: Uint8Array[] = [];
    for await (const c of patchChunks(b, [delta], opts)) out.push(c);
    return Buffer.concat(out);
  }

  it('is smaller than one with the digest, patches the basis, and still refuses a basis of another length', async () => {
    expect(delta.length).toBeLessThan(diff(basis, target).length - 32);
    expect(Buffer.compare(patch(basis, delta), target)).toBe(0);
    expect(Buffer.compare(await viaStream(basis), target)).toBe(0);
    expect(() => patch(basis.subarray(1), delta)).toThrow(expect.objectContaining({ code: 'ERR_BASIS_MISMATCH' }));
  });

  it('a changed basis of the same length is caught by the target hash, unless verifyTarget is false', async () => {
    // Byte 100,003 of the basis is copied into the target: the output differs there.
    expect(() => patch(sameLength, delta)).toThrow(expect.objectContaining({ code: 'ERR_CHECKSUM' }));
    await expect(viaStream(sameLength)).rejects.toMatchObject({ code: 'ERR_CHECKSUM' });
    const unchecked = patch(sameLength, delta, { verifyTarget: false });
    expect(unchecked.length).toBe(target.length);
    expect(Buffer.compare(unchecked, target)).not.toBe(0);
    expect(Buffer.compare(await viaStream(sameLength, { verifyTarget: false }), unchecked)).toBe(0);
  });
});

describe('a directory or a missing file given as an input is named for what it was meant to be', () => {
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  writeFileSync(join(dir, 'small'), prng(1000, 3));
  writeFileSync(join(dir, 'small.d'), diff(prng(1000, 3), prng(1000, 4)));

  it('FileBasis refuses a directory at open (Linux opens one; its 4096 bytes would pass for a basis)', async () => {
    await expect(FileBasis.open(folder)).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot open the basis ${folder}: it is a directory, not a file` });
    await expect(FileBasis.open(join(dir, 'nope.rdimg'), 'the image delta')).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot open the image delta ${join(dir, 'nope.rdimg')}: no such file or directory` });
  });

  it('patchFile with a directory as the basis or the delta says so, not ERR_BASIS_MISMATCH, and writes nothing', async () => {
    await expect(patchFile(folder, join(dir, 'small.d'), join(dir, 'out-a'))).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot open the basis ${folder}: it is a directory, not a file` });
    await expect(patchFile(join(dir, 'small'), folder, join(dir, 'out-b'))).rejects.toMatchObject({ code: 'ERR_IO', message: `cannot read ${folder}: it is a directory, not a file` });
    expect(existsSync(join(dir, 'out-a')) || existsSync(join(dir, 'out-b'))).toBe(false);
  });
});

