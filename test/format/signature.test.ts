import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/core/crc32.js';
import { RolldeltaError } from '../../src/core/errors.js';
import type { Signature } from '../../src/core/params.js';
import { encodeHeaderBlock } from '../../src/format/_header-block.js';
import { decodeNativeSignature, encodeNativeSignature, NativeSignatureDecoder } from '../../src/format/native-signature.js';
import { rdiffSignatureMagic, rdiffSignatureParams } from '../../src/format/rdiff-magic.js';
import { decodeRdiffSignature, encodeRdiffSignature, RdiffSignatureDecoder } from '../../src/format/rdiff-signature.js';
import { arbFractions, bytewise, cat, codeOf, cuts, pushAll } from './_helpers.js';

const arbSig = (withBasis: boolean): fc.Arbitrary<Signature> =>
  fc
    .record({
      blockLength: fc.integer({ min: 1, max: 5000 }),
      hash: fc.constantFrom<'blake2b' | 'md4'>('blake2b', 'md4'),
      rollsum: fc.constantFrom<'rollsum' | 'rabinkarp'>('rollsum', 'rabinkarp'),
      blocks: fc.integer({ min: 0, max: 40 }),
      strongFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      seed: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      tail: fc.nat(),
    })
    .map(({ blockLength, hash, rollsum, blocks, strongFrac, seed, tail }) => {
      const strongLength = 1 + Math.floor(strongFrac * ((hash === 'md4' ? 16 : 32) - 1));
      const weak = new Uint32Array(blocks).map((_, i) => (Math.imul(i + 1, 0x9e3779b1) ^ seed[i % seed.length]) >>> 0);
      const strong = new Uint8Array(blocks * strongLength).map((_, i) => seed[i % seed.length] ^ i);
      const sig: Signature = { blockLength, strongLength, hash, rollsum, blockCount: blocks, weak, strong };
      if (!withBasis) return sig;
      const basisLength = blocks === 0 ? 0 : (blocks - 1) * blockLength + 1 + (tail % blockLength);
      return { ...sig, basisLength, basisSha256: new Uint8Array(32).fill(blocks) };
    });

function nativeChunks(chunks: Uint8Array[], limits?: object): Signature {
  const d = new NativeSignatureDecoder({ limits });
  pushAll(d, chunks);
  return d.result();
}

function rdiffChunks(chunks: Uint8Array[], limits?: object): Signature {
  const d = new RdiffSignatureDecoder({ limits });
  pushAll(d, chunks);
  return d.result();
}

const sample: Signature = {
  blockLength: 4,
  strongLength: 8,
  hash: 'blake2b',
  rollsum: 'rabinkarp',
  blockCount: 3,
  weak: Uint32Array.of(1, 0xffffffff, 0x12345678),
  strong: new Uint8Array(24).map((_, i) => i),
  basisLength: 10,
  basisSha256: new Uint8Array(32).fill(3),
};

describe('native signature v1', () => {
  it('round-trips random signatures in any chunking', () => {
    fc.assert(
      fc.property(fc.oneof(arbSig(true), arbSig(false)), arbFractions, (sig, fr) => {
        const bytes = encodeNativeSignature(sig);
        expect(nativeChunks(cuts(bytes, fr))).toEqual(sig);
      }),
      { numRuns: 300 },
    );
    const bytes = encodeNativeSignature(sample);
    expect(nativeChunks(bytewise(bytes))).toEqual(sample);
    expect(decodeNativeSignature(bytes)).toEqual(sample);
  });

  it('every truncation is ERR_TRUNCATED and every bit flip a RolldeltaError', () => {
    const bytes = encodeNativeSignature(sample);
    for (let i = 0; i < bytes.length; i++) expect(codeOf(() => decodeNativeSignature(bytes.subarray(0, i))), `cut ${i}`).toBe('ERR_TRUNCATED');
    for (let i = 0; i < bytes.length * 8; i++) {
      const bad = bytes.slice();
      bad[i >> 3] ^= 1 << (i & 7);
      expect(codeOf(() => decodeNativeSignature(bad)), `bit ${i}`).not.toBe('no error');
    }
    expect(codeOf(() => decodeNativeSignature(cat(bytes, Uint8Array.of(0))))).toBe('ERR_CORRUPT');
  });

  it('refuses a block count above the limit before allocating, and impossible headers', () => {
    const make = (map: Record<string, unknown>) => cat(Uint8Array.of(0x72, 0x64, 0x73, 0x67, 1), encodeHeaderBlock(map));
    const base = { blockLength: 4, strongLength: 8, rollsum: 'rollsum', hash: 'md4', blockCount: 2 ** 40 };
    expect(codeOf(() => decodeNativeSignature(make(base)))).toBe('ERR_LIMIT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 100 }), { maxSignatureBlocks: 99 }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 1, blockLength: 0 })))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 1, strongLength: 17 })))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 1, strongLength: 0 })))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 2, basisLength: 9 })))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: 1, hash: 'sha1' })))).toBe('ERR_UNSUPPORTED');
    expect(codeOf(() => decodeNativeSignature(make({ ...base, blockCount: '1' })))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeNativeSignature(Uint8Array.of(0x72, 0x64, 0x73, 0x67, 2)))).toBe('ERR_UNSUPPORTED');
    expect(codeOf(() => decodeNativeSignature(Uint8Array.of(0x72, 0x64, 0x73, 0x67, 1, 0xff, 0xff, 0xff, 0xff)))).toBe('ERR_LIMIT');
    // A claimed count of 2^26 blocks with no data behind it allocates only what arrives.
    const d = new NativeSignatureDecoder();
    d.push(make({ ...base, blockCount: 2 ** 26 }));
    expect(codeOf(() => d.push(new Uint8Array(0), true))).toBe('ERR_TRUNCATED');
  });

  it('lets only RolldeltaError escape on random input after the magic, and a dead decoder stays dead', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        expect(codeOf(() => decodeNativeSignature(cat(Uint8Array.of(0x72, 0x64, 0x73, 0x67, 1), junk), { maxSignatureBlocks: 1000 }))).not.toBe('no error');
      }),
      { numRuns: 300 },
    );
    const d = new NativeSignatureDecoder();
    expect(codeOf(() => d.push(Uint8Array.of(1, 2, 3)))).toBe('ERR_BAD_MAGIC');
    expect(() => d.push(encodeNativeSignature(sample), true)).toThrow(RolldeltaError);
    expect(() => d.result()).toThrow(RolldeltaError);
    expect(decodeNativeSignature(encodeNativeSignature(sample))).toEqual(sample);
  });

  it('the final CRC covers the sums', () => {
    const bytes = encodeNativeSignature(sample);
    const end = bytes.length - 4;
    const start = end - 3 * (4 + 8);
    expect(new DataView(bytes.buffer).getUint32(end)).toBe(crc32(bytes.subarray(start, end)));
  });
});

describe('rdiff signature', () => {
  it('magic helpers are inverse', () => {
    for (const rollsum of ['rollsum', 'rabinkarp'] as const) {
      for (const hash of ['md4', 'blake2b'] as const) {
        expect(rdiffSignatureParams(rdiffSignatureMagic(rollsum, hash))).toEqual({ rollsum, hash });
      }
    }
    expect(rdiffSignatureMagic('rabinkarp', 'blake2b')).toBe(0x72730147);
    expect(rdiffSignatureMagic('rollsum', 'md4')).toBe(0x72730136);
    expect(rdiffSignatureParams(0x72730236)).toBeUndefined();
  });

  it('round-trips random signatures in any chunking (without basis identity)', () => {
    fc.assert(
      fc.property(arbSig(false), arbFractions, (sig, fr) => {
        expect(rdiffChunks(cuts(encodeRdiffSignature(sig), fr))).toEqual(sig);
      }),
      { numRuns: 300 },
    );
    const { basisLength: _l, basisSha256: _s, ...plain } = sample;
    expect(rdiffChunks(bytewise(encodeRdiffSignature(sample)))).toEqual(plain);
  });

  it('known bytes', () => {
    const sig: Signature = { blockLength: 2048, strongLength: 2, hash: 'md4', rollsum: 'rollsum', blockCount: 1, weak: Uint32Array.of(0xdeadbeef), strong: Uint8Array.of(0xab, 0xcd) };
    expect(Array.from(encodeRdiffSignature(sig))).toEqual([0x72, 0x73, 0x01, 0x36, 0, 0, 8, 0, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xcd]);
  });

  it('truncation: ERR_TRUNCATED inside a block or the header; at a block boundary the format cannot tell', () => {
    const bytes = encodeRdiffSignature(sample);
    for (let i = 0; i < bytes.length; i++) {
      const code = codeOf(() => decodeRdiffSignature(bytes.subarray(0, i)));
      if (i >= 12 && (i - 12) % 12 === 0) expect(code, `cut ${i}`).toBe('no error');
      else expect(code, `cut ${i}`).toBe('ERR_TRUNCATED');
    }
  });

  it('refuses bad parameters and too many blocks', () => {
    const head = (magic: number, bl: number, sl: number) => {
      const b = new Uint8Array(12);
      const v = new DataView(b.buffer);
      v.setUint32(0, magic);
      v.setUint32(4, bl);
      v.setUint32(8, sl);
      return b;
    };
    expect(codeOf(() => decodeRdiffSignature(head(0x72730147, 0, 8)))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeRdiffSignature(head(0x72730147, 16, 0)))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeRdiffSignature(head(0x72730146, 16, 17)))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeRdiffSignature(head(0x72730147, 16, 0xffffffff)))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decodeRdiffSignature(head(0x72730148, 16, 8)))).toBe('ERR_BAD_MAGIC');
    expect(codeOf(() => decodeRdiffSignature(head(0x72730236, 16, 8)))).toBe('ERR_BAD_MAGIC');
    const many = cat(head(0x72730147, 16, 1), new Uint8Array(5 * 11));
    expect(decodeRdiffSignature(many, { maxSignatureBlocks: 11 }).blockCount).toBe(11);
    expect(codeOf(() => decodeRdiffSignature(many, { maxSignatureBlocks: 10 }))).toBe('ERR_LIMIT');
    // Growth by doubling past the first allocation.
    const lots = cat(head(0x72730137, 16, 1), new Uint8Array(5 * 10000).map((_, i) => i));
    const d = new RdiffSignatureDecoder();
    for (let i = 0; i < lots.length; i += 777) d.push(lots.subarray(i, i + 777));
    d.push(new Uint8Array(0), true);
    expect(d.result().blockCount).toBe(10000);
    expect(encodeRdiffSignature(d.result())).toEqual(lots);
  });

  it('lets only RolldeltaError escape on random input after the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(0x36, 0x37, 0x46, 0x47), (junk, m) => {
        const code = codeOf(() => decodeRdiffSignature(Uint8Array.of(0x72, 0x73, 0x01, m, ...junk), { maxSignatureBlocks: 100 }));
        expect(code === 'no error' || code.startsWith('ERR_')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
