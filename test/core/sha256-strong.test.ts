import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSignature, decodeSignature, delta, matchDelta, nodeSha256, OpCollector, patch, patchOps, signature } from '../../src/index.js';
import type { HasherFactory } from '../../src/core/hash.js';
import { Sha256 } from '../../src/core/sha256.js';
import { createStrongSummer } from '../../src/core/strong-hash.js';
import { encodeRdiffSignature } from '../../src/format/rdiff-signature.js';

describe("the 'sha256' strong hash", () => {
  const data = new Uint8Array(50_000).map((_, i) => (i * 2654435761) >>> 24);

  it('is the default of native signatures, and rdiff keeps BLAKE2b', () => {
    expect(decodeSignature(signature(data)).hash).toBe('sha256');
    expect(decodeSignature(signature(data, { format: 'rdiff' })).hash).toBe('blake2b');
  });

  it("a block's strong sum is the prefix of its SHA-256", () => {
    const sig = buildSignature(data, { blockLength: 4096, strongLength: 20, hash: 'sha256' });
    const want = createHash('sha256').update(data.subarray(4096, 8192)).digest().subarray(0, 20);
    expect(Buffer.from(sig.strong.subarray(20, 40)).equals(want)).toBe(true);
  });

  it('node:crypto injected gives the same signature as the pure-TS SHA-256', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 32 }), (basis, blockLength, strongLength) => {
        const a = buildSignature(basis, { blockLength, strongLength, hash: 'sha256' });
        const b = buildSignature(basis, { blockLength, strongLength, hash: 'sha256', sha256: nodeSha256 });
        expect(Buffer.from(b.strong).equals(Buffer.from(a.strong))).toBe(true);
        expect(Array.from(b.weak)).toEqual(Array.from(a.weak));
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the rsync law, with and without the injected hash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 300 }), (basis, extra, at, blockLength) => {
        const i = basis.length ? at % basis.length : 0;
        const target = Uint8Array.from(Buffer.concat([basis.subarray(i), extra, basis.subarray(0, i)]));
        const sig = buildSignature(basis, { blockLength, hash: 'sha256', sha256: nodeSha256 });
        const ops = new OpCollector();
        matchDelta(sig, target, ops);
        expect(Buffer.from(patchOps(basis, ops.finish())).equals(Buffer.from(target))).toBe(true);
        expect(Buffer.from(patch(basis, delta(signature(basis, { blockLength }), target))).equals(Buffer.from(target))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('cannot be written in the rdiff format', () => {
    expect(() => signature(data, { format: 'rdiff', hash: 'sha256' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => encodeRdiffSignature(buildSignature(data, { hash: 'sha256' }))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('the sha256 strong summer', () => {
  it("a one-block signature's strong sum is the prefix of sha256(block), with and without node:crypto", () => {
    const block = new Uint8Array(1000).map((_, i) => i * 7);
    const want = createHash('sha256').update(block).digest();
    for (const sha256 of [undefined, nodeSha256]) {
      const sig = buildSignature(block, { blockLength: 1000, strongLength: 16, hash: 'sha256', sha256 });
      expect(sig.blockCount).toBe(1);
      expect(Buffer.from(sig.strong).equals(want.subarray(0, 16))).toBe(true);
    }
  });

  it('gives the same sums through a one-shot digest, a plain factory and the pure-TS hash', () => {
    const plain: HasherFactory = () => new Sha256();
    const oneShot = createStrongSummer('sha256', { sha256: nodeSha256 });
    const viaFactory = createStrongSummer('sha256', { sha256: plain });
    const pure = createStrongSummer('sha256');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.nat(), fc.integer({ min: 0, max: 32 }), (data, a, length) => {
        const start = data.length ? a % (data.length + 1) : 0;
        const outs = [oneShot, viaFactory, pure].map((s) => {
          const out = new Uint8Array(40).fill(0xee);
          s.sumInto(data, start, data.length, out, 3, length);
          return Buffer.from(out);
        });
        expect(outs[1].equals(outs[0])).toBe(true);
        expect(outs[2].equals(outs[0])).toBe(true);
        expect(outs[0].subarray(3, 3 + length).equals(createHash('sha256').update(data.subarray(start)).digest().subarray(0, length))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a range or length out of bounds with ERR_INVALID_ARGUMENT', () => {
    const s = createStrongSummer('sha256', { sha256: nodeSha256 });
    const data = new Uint8Array(10);
    expect(() => s.sumInto(data, 0, 11, new Uint8Array(32), 0, 32)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => s.sumInto(data, 0, 10, new Uint8Array(32), 0, 33)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
