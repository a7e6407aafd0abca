import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultBlockLength } from '../../src/core/block-size.js';
import { signature } from '../../src/format/operations.js';
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
