import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BLOCK_LENGTH,
  MAX_BLOCK_LENGTH,
  checkSignatureParams,
  defaultBlockLength,
  minStrongLength,
  resolveSignatureParams,
} from '../../src/core/block-size.js';
import { RolldeltaError } from '../../src/core/errors.js';
import type { RollsumName, Signature, StrongHashName } from '../../src/core/params.js';
import { weakSum } from '../../src/core/rolling.js';
import { buildSignature, SignatureBuilder } from '../../src/core/signature-builder.js';
import { createStrongSummer } from '../../src/core/strong-hash.js';
import { peer } from '../helpers/peers.js';
import { noise } from '../helpers/noise.js';

const ROLLSUMS: RollsumName[] = ['rabinkarp', 'rollsum'];
const HASHES: StrongHashName[] = ['blake2b', 'md4'];

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RolldeltaError);
    return (e as RolldeltaError).code;
  }
  return undefined;
}

describe('defaultBlockLength', () => {
  it('is rdiff\'s choice', () => {
    expect(defaultBlockLength(0)).toBe(256);
    expect(defaultBlockLength(65536)).toBe(256);
    expect(defaultBlockLength(65537)).toBe(256);
    expect(defaultBlockLength(1_000_000)).toBe(896);
    expect(defaultBlockLength(208_800_000)).toBe(14336);
    expect(defaultBlockLength(64 << 20)).toBe(8192);
    expect(defaultBlockLength()).toBe(DEFAULT_BLOCK_LENGTH);
    expect(defaultBlockLength(2 ** 52)).toBe(MAX_BLOCK_LENGTH);
  });
  it('uses an exact integer square root', () => {
    // 16383^2 = 268402689: one byte less must give isqrt 16382 -> 16256.
    expect(defaultBlockLength(16384 * 16384)).toBe(16384);
    expect(defaultBlockLength(16384 * 16384 - 1)).toBe(16256);
  });
  it('refuses a bad size', () => {
    expect(code(() => defaultBlockLength(-1))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => defaultBlockLength(1.5))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('minStrongLength', () => {
  it('follows librsync\'s formula', () => {
    // 2 + (log2(size + 2^24) + log2(size / bl + 1) + 7) / 8
    expect(minStrongLength(0, 256)).toBe(2 + Math.floor((24 + 0 + 7) / 8));
    expect(minStrongLength(1_000_000, 896)).toBe(7);
    expect(minStrongLength(208_800_000, 14336)).toBe(2 + Math.floor((27 + 13 + 7) / 8));
    expect(minStrongLength(2 ** 40, 2 ** 20)).toBe(2 + Math.floor((40 + 20 + 7) / 8));
  });
});

describe('resolveSignatureParams', () => {
  it('defaults to rdiff\'s parameters', () => {
    expect(resolveSignatureParams(1_000_000)).toEqual({ blockLength: 896, strongLength: 32, rollsum: 'rabinkarp', hash: 'blake2b' });
    expect(resolveSignatureParams(undefined, { hash: 'md4' })).toEqual({ blockLength: 2048, strongLength: 16, rollsum: 'rabinkarp', hash: 'md4' });
    expect(resolveSignatureParams(10, { strongLength: -1 }).strongLength).toBe(minStrongLength(10, 256));
    expect(resolveSignatureParams(undefined, { strongLength: -1 }).strongLength).toBe(12);
    expect(resolveSignatureParams(5, { blockLength: 1, strongLength: 1, rollsum: 'rollsum' })).toEqual({
      blockLength: 1,
      strongLength: 1,
      rollsum: 'rollsum',
      hash: 'blake2b',
    });
  });
  it('refuses out-of-range options', () => {
    for (const bad of [0, -5, 1.5, MAX_BLOCK_LENGTH + 1, NaN]) {
      expect(code(() => resolveSignatureParams(100, { blockLength: bad }))).toBe('ERR_INVALID_ARGUMENT');
    }
    for (const bad of [0, -2, 33, 2.5]) expect(code(() => resolveSignatureParams(100, { strongLength: bad }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => resolveSignatureParams(100, { strongLength: 17, hash: 'md4' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => resolveSignatureParams(100, { hash: 'sha1' as StrongHashName }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => resolveSignatureParams(100, { rollsum: 'adler' as RollsumName }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => checkSignatureParams({ blockLength: 8, strongLength: -1, rollsum: 'rollsum', hash: 'md4' }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

/** The signature by definition: each block summed on its own. */
function referenceSignature(data: Uint8Array, blockLength: number, strongLength: number, rollsum: RollsumName, hash: StrongHashName) {
  const n = Math.ceil(data.length / blockLength);
  const weak = new Uint32Array(n);
  const strong = new Uint8Array(n * strongLength);
  const summer = createStrongSummer(hash);
  for (let i = 0; i < n; i++) {
    const end = Math.min(data.length, (i + 1) * blockLength);
    weak[i] = weakSum(rollsum, data, i * blockLength, end);
    summer.sumInto(data, i * blockLength, end, strong, i * strongLength, strongLength);
  }
  return { weak, strong };
}

describe('SignatureBuilder', () => {
  it('gives no blocks for an empty basis', () => {
    const sig = buildSignature(new Uint8Array(0));
    expect(sig.blockCount).toBe(0);
    expect(sig.weak.length).toBe(0);
    expect(sig.strong.length).toBe(0);
    expect(sig.basisLength).toBe(0);
    expect(Buffer.from(sig.basisSha256!).toString('hex')).toBe(createHash('sha256').digest('hex'));
  });

  it('sums every block, the last one short', () => {
    const data = noise(1000, 7);
    for (const rollsum of ROLLSUMS) {
      for (const hash of HASHES) {
        const sig = buildSignature(data, { blockLength: 64, strongLength: 8, rollsum, hash });
        expect(sig.blockCount).toBe(16);
        const ref = referenceSignature(data, 64, 8, rollsum, hash);
        expect(sig.weak).toEqual(ref.weak);
        expect(sig.strong).toEqual(ref.strong);
        expect(sig.basisLength).toBe(1000);
        expect(Buffer.from(sig.basisSha256!).toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      }
    }
  });

  it('gives the same signature for any chunking (law)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1500 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom(...ROLLSUMS),
        fc.constantFrom(...HASHES),
        (data, blockLength, cuts, rollsum, hash) => {
          const opts = { blockLength, rollsum, hash, strongLength: hash === 'md4' ? 16 : 32 };
          const whole = buildSignature(data, opts);
          const points = [...new Set(cuts.map((c) => (data.length ? c % (data.length + 1) : 0)))].sort((a, b) => a - b);
          const b = new SignatureBuilder(resolveSignatureParams(data.length, opts));
          let prev = 0;
          for (const p of [...points, data.length]) {
            b.push(data.subarray(prev, p));
            prev = p;
          }
          const parts = b.finish();
          expect(parts).toEqual(whole);
          const ref = referenceSignature(data, blockLength, opts.strongLength, rollsum, hash);
          expect(whole.weak).toEqual(ref.weak);
          expect(whole.strong).toEqual(ref.strong);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('takes byte-at-a-time input', () => {
    const data = noise(777, 3);
    const b = new SignatureBuilder(resolveSignatureParams(data.length, { blockLength: 100 }));
    for (let i = 0; i < data.length; i++) b.push(data.subarray(i, i + 1));
    expect(b.finish()).toEqual(buildSignature(data, { blockLength: 100 }));
  });

  it('uses an injected SHA-256', () => {
    let updates = 0;
    const sha256 = () => {
      const h = createHash('sha256');
      const hasher = {
        update(d: Uint8Array) {
          updates++;
          h.update(d);
          return hasher;
        },
        digest: () => new Uint8Array(h.digest()),
      };
      return hasher;
    };
    const data = noise(5000, 9);
    const sig = buildSignature(data, { sha256 });
    expect(updates).toBe(1);
    expect(sig.basisSha256).toEqual(new Uint8Array(createHash('sha256').update(data).digest()));
  });

  it('stops at maxBlocks with ERR_LIMIT', () => {
    const data = new Uint8Array(1000);
    expect(buildSignature(data, { blockLength: 100, maxBlocks: 10 }).blockCount).toBe(10);
    expect(code(() => buildSignature(data, { blockLength: 100, maxBlocks: 9 }))).toBe('ERR_LIMIT');
    expect(code(() => buildSignature(new Uint8Array(901), { blockLength: 100, maxBlocks: 9 }))).toBe('ERR_LIMIT');
  });

  it('refuses misuse', () => {
    const b = new SignatureBuilder(resolveSignatureParams(10));
    expect(code(() => b.push('abc' as unknown as Uint8Array))).toBe('ERR_INVALID_ARGUMENT');
    b.finish();
    expect(code(() => b.push(new Uint8Array(1)))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => b.finish())).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new SignatureBuilder({ blockLength: 0, strongLength: 8, rollsum: 'rabinkarp', hash: 'md4' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new SignatureBuilder(resolveSignatureParams(10), { maxBlocks: -1 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

/** Parses an rdiff signature file into weak and strong sums (format facts from LIBRSYNC.md). */
function parseRdiffSignature(file: Uint8Array): Pick<Signature, 'blockLength' | 'strongLength' | 'weak' | 'strong'> & { magic: number } {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0);
  const blockLength = v.getUint32(4);
  const strongLength = v.getUint32(8);
  const n = (file.length - 12) / (4 + strongLength);
  const weak = new Uint32Array(n);
  const strong = new Uint8Array(n * strongLength);
  for (let i = 0; i < n; i++) {
    const at = 12 + i * (4 + strongLength);
    weak[i] = v.getUint32(at);
    strong.set(file.subarray(at + 4, at + 4 + strongLength), i * strongLength);
  }
  return { magic, blockLength, strongLength, weak, strong };
}

describe.skipIf(peer('rdiff', 'rdiff').skip)('against rdiff', () => {
  it('gives rdiff\'s sums and default parameters', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rolldelta-sig-'));
    try {
      const cases: Array<{ size: number; args: string[]; rollsum: RollsumName; hash: StrongHashName; blockLength?: number; strongLength?: number }> = [
        { size: 0, args: [], rollsum: 'rabinkarp', hash: 'blake2b' },
        { size: 100_000, args: [], rollsum: 'rabinkarp', hash: 'blake2b' },
        { size: 5000, args: ['-R', 'rollsum', '-H', 'md4', '-b', '300'], rollsum: 'rollsum', hash: 'md4', blockLength: 300 },
        { size: 4097, args: ['-R', 'rollsum', '-H', 'blake2', '-b', '64', '-S', '8'], rollsum: 'rollsum', hash: 'blake2b', blockLength: 64, strongLength: 8 },
        { size: 70_001, args: ['-R', 'rabinkarp', '-H', 'md4', '-S', '-1'], rollsum: 'rabinkarp', hash: 'md4', strongLength: -1 },
      ];
      for (const c of cases) {
        const data = noise(c.size, c.size + 11);
        const basis = join(dir, 'basis');
        const sigFile = join(dir, 'sig');
        writeFileSync(basis, data);
        execFileSync('rdiff', [...c.args, '-f', 'signature', basis, sigFile]);
        const theirs = parseRdiffSignature(new Uint8Array(readFileSync(sigFile)));
        const ours = buildSignature(data, { rollsum: c.rollsum, hash: c.hash, blockLength: c.blockLength, strongLength: c.strongLength });
        expect([ours.blockLength, ours.strongLength]).toEqual([theirs.blockLength, theirs.strongLength]);
        expect(ours.weak).toEqual(theirs.weak);
        expect(ours.strong).toEqual(theirs.strong);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
