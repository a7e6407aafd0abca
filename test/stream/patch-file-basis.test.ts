import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diff } from '../../src/format/operations.js';
import { patchFile } from '../../src/stream/file-operations.js';
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
