import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultBlockLength } from '../../src/core/block-size.js';
import { delta, diff, patch, signature } from '../../src/format/operations.js';
import { resolveLimits } from '../../src/format/limits.js';
import { decodeSignature } from '../../src/format/signature-codec.js';
import { defaultBlockLengthFor, NATIVE_DEFAULT_BLOCK_CAP, resolveFormatParams } from '../../src/format/signature-defaults.js';
import { signatureFile } from '../../src/stream/file-operations.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-sigdef-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('default block length by format', () => {
  it('is rdiff\'s up to 8 KiB, then capped in the native format only', () => {
    for (const size of [0, 65536, 1_000_000, 64 << 20]) {
      expect(defaultBlockLengthFor('native', size)).toBe(defaultBlockLength(size));
      expect(defaultBlockLengthFor('rdiff', size)).toBe(defaultBlockLength(size));
    }
    expect(defaultBlockLengthFor('native', 2 ** 30)).toBe(NATIVE_DEFAULT_BLOCK_CAP);
    expect(defaultBlockLengthFor('rdiff', 2 ** 30)).toBe(32768);
    expect(defaultBlockLengthFor('native')).toBe(2048); // unknown size: rdiff's 2048
  });

  it('gives way to the caller\'s block length and fills the format\'s hash', () => {
    expect(resolveFormatParams(2 ** 30, { blockLength: 65536 }).blockLength).toBe(65536);
    expect(resolveFormatParams(2 ** 30, {})).toMatchObject({ blockLength: 8192, hash: 'sha256', strongLength: 32 });
    expect(resolveFormatParams(2 ** 30, { format: 'rdiff' })).toMatchObject({ blockLength: 32768, hash: 'blake2b' });
  });

  it('reaches signatures made in memory and from files (80 MiB basis)', async () => {
    const size = 80 << 20; // rdiff: isqrt(80 Mi) = 9158, rounded down to 9088
    const basis = new Uint8Array(size);
    expect(decodeSignature(signature(basis)).blockLength).toBe(8192);
    expect(decodeSignature(signature(basis, { format: 'rdiff', hash: 'md4' })).blockLength).toBe(9088);
    const file = join(dir, 'basis.bin');
    writeFileSync(file, '');
    truncateSync(file, size); // sparse: reads as zeros
    await signatureFile(file, join(dir, 'n.sig'));
    await signatureFile(file, join(dir, 'r.sig'), { format: 'rdiff', hash: 'md4', workers: 2 });
    expect(decodeSignature(readFileSync(join(dir, 'n.sig'))).blockLength).toBe(8192);
    expect(decodeSignature(readFileSync(join(dir, 'r.sig'))).blockLength).toBe(9088);
  });
});

describe('options that would be ignored are refused', () => {
  // Option files and JavaScript callers get no type check: a misspelling used to be silent.
  const basis = new Uint8Array(50_000).map((_, i) => (i * 7919) >>> 5);
  const target = basis.slice(100);
  it('a format other than native or rdiff, in signatures and rsync deltas', async () => {
    const bad = { format: 'xml' } as never;
    expect(() => signature(basis, bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('"xml"') }));
    expect(() => delta(signature(basis), target, bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    writeFileSync(join(dir, 'opt-basis'), basis);
    await expect(signatureFile(join(dir, 'opt-basis'), join(dir, 'opt.sig'), bad)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(signature(basis, { format: 'native' })).toEqual(signature(basis));
  });

  it('an unknown decode limit', () => {
    const d = diff(basis, target);
    expect(() => patch(basis, d, { limits: { maxTargetSize: 10 } as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('maxTargetLength') }));
    expect(() => resolveLimits({ maxTargetLength: 10, extra: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(resolveLimits({ maxTargetLength: 10 }).maxTargetLength).toBe(10);
  });
});
