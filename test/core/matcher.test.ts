import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockIndex, MAX_CANDIDATES } from '../../src/core/block-index.js';
import { resolveSignatureParams } from '../../src/core/block-size.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { matchDelta, DeltaMatcher } from '../../src/core/matcher.js';
import { type Op, OpCollector, type OpSink } from '../../src/core/ops.js';
import type { RollsumName, Signature, StrongHashName } from '../../src/core/params.js';
import { patchOps } from '../../src/core/patcher.js';
import { weakSum } from '../../src/core/rolling.js';
import { buildSignature, SignatureBuilder } from '../../src/core/signature-builder.js';
import { noise } from '../helpers/noise.js';

function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Records every sink call as it comes, unmerged, so tests see exactly what the matcher emits. */
class Recorder implements OpSink {
  readonly calls: Op[] = [];
  copy(offset: number, length: number): void {
    this.calls.push({ type: 'copy', offset, length });
  }
  literal(data: Uint8Array): void {
    this.calls.push({ type: 'literal', data: data.slice() });
  }
}

function opsOf(sig: Signature, target: Uint8Array, chunks?: number[]): Op[] {
  const r = new Recorder();
  const m = new DeltaMatcher(sig, r);
  if (!chunks) m.push(target);
  else {
    let prev = 0;
    for (const c of [...chunks, target.length]) {
      m.push(target.subarray(prev, Math.max(prev, c)));
      prev = Math.max(prev, c);
    }
  }
  m.finish();
  expect(m.targetLength).toBe(target.length);
  return r.calls;
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RolldeltaError);
    return (e as RolldeltaError).code;
  }
  return undefined;
}

describe('DeltaMatcher, by hand', () => {
  const basis = noise(1000, 5); // blocks of 100: ten full blocks
  const sig = buildSignature(basis, { blockLength: 100 });

  it('turns an unchanged target into one COPY', () => {
    expect(opsOf(sig, basis)).toEqual([{ type: 'copy', offset: 0, length: 1000 }]);
    const odd = noise(1050, 6); // ten full blocks and a short one
    expect(opsOf(buildSignature(odd, { blockLength: 100 }), odd)).toEqual([{ type: 'copy', offset: 0, length: 1050 }]);
    const short = noise(40, 6); // one short block only
    expect(opsOf(buildSignature(short, { blockLength: 100 }), short)).toEqual([{ type: 'copy', offset: 0, length: 40 }]);
  });

  it('emits everything as literal against an empty basis', () => {
    const empty = buildSignature(new Uint8Array(0));
    expect(opsOf(empty, basis)).toEqual([{ type: 'literal', data: basis }]);
    expect(opsOf(empty, new Uint8Array(0))).toEqual([]);
    expect(opsOf(sig, new Uint8Array(0))).toEqual([]);
  });

  it('finds blocks after an insertion, and moved blocks', () => {
    const target = cat(basis.subarray(0, 300), new Uint8Array([1, 2, 3]), basis.subarray(300));
    expect(opsOf(sig, target)).toEqual([
      { type: 'copy', offset: 0, length: 300 },
      { type: 'literal', data: new Uint8Array([1, 2, 3]) },
      { type: 'copy', offset: 300, length: 700 },
    ]);
    const moved = cat(basis.subarray(500), basis.subarray(0, 500));
    expect(opsOf(sig, moved)).toEqual([
      { type: 'copy', offset: 500, length: 500 },
      { type: 'copy', offset: 0, length: 500 },
    ]);
  });

  it('matches the short last block only at the very end of the target', () => {
    const b = noise(250, 8); // blocks 100, 100, 50
    const s = buildSignature(b, { blockLength: 100 });
    const tail = b.subarray(200);
    expect(opsOf(s, cat(new Uint8Array([9]), tail))).toEqual([
      { type: 'literal', data: new Uint8Array([9]) },
      { type: 'copy', offset: 200, length: 50 },
    ]);
    // In the middle of the target the short block is not looked for (as librsync).
    const mid = cat(tail, new Uint8Array([9]));
    expect(opsOf(s, mid)).toEqual([{ type: 'literal', data: mid }]);
  });

  it('matches a short last block of unknown length (rdiff signatures)', () => {
    const b = noise(250, 8);
    const { basisLength: _l, basisSha256: _h, ...rdiffLike } = buildSignature(b, { blockLength: 100 });
    const target = cat(new Uint8Array([7, 7]), b.subarray(100));
    expect(opsOf(rdiffLike, target)).toEqual([
      { type: 'literal', data: new Uint8Array([7, 7]) },
      { type: 'copy', offset: 100, length: 150 },
    ]);
    expect(opsOf(rdiffLike, b)).toEqual([{ type: 'copy', offset: 0, length: 250 }]);
  });

  it('prefers the block after the previous match among identical blocks', () => {
    const block = noise(64, 3);
    const b = cat(block, block, block, noise(64, 4), block);
    const s = buildSignature(b, { blockLength: 64 });
    expect(new BlockIndex(s).skipped).toBe(3);
    expect(opsOf(s, b)).toEqual([{ type: 'copy', offset: 0, length: b.length }]);
    // Starting mid-run, the run continues from the first identical block.
    expect(opsOf(s, b.subarray(128))).toEqual([
      { type: 'copy', offset: 0, length: 64 },
      { type: 'copy', offset: 192, length: 128 },
    ]);
  });

  it('emits long literals in pieces of 64 KiB', () => {
    const lit = noise(200_000, 12);
    const calls = opsOf(sig, lit);
    expect(calls.map((c) => (c.type === 'literal' ? c.data.length : -1))).toEqual([65536, 65536, 65536, 200_000 - 3 * 65536]);
  });

  it('works with both rollsums, both hashes and a block of one byte', () => {
    for (const rollsum of ['rabinkarp', 'rollsum'] as RollsumName[]) {
      for (const hash of ['blake2b', 'md4', 'sha256'] as StrongHashName[]) {
        const b = noise(300, 2);
        const s = buildSignature(b, { blockLength: 1, rollsum, hash, strongLength: 4 });
        const patched = patchOps(b, collect(s, cat(b.subarray(10, 20), b)).finish());
        expect(patched).toEqual(cat(b.subarray(10, 20), b));
      }
    }
  });

  it('refuses a malformed signature or sink, and misuse', () => {
    expect(code(() => new DeltaMatcher({ ...sig, blockCount: 11 }, new OpCollector()))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new DeltaMatcher({ ...sig, basisLength: 1001 }, new OpCollector()))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new DeltaMatcher({ ...sig, strongLength: 40 }, new OpCollector()))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new DeltaMatcher(sig, {} as OpSink))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => new DeltaMatcher(sig, new OpCollector(), { index: new BlockIndex(buildSignature(basis)) }))).toBe('ERR_INVALID_ARGUMENT');
    const m = new DeltaMatcher(sig, new OpCollector());
    m.finish();
    expect(code(() => m.push(new Uint8Array(1)))).toBe('ERR_INVALID_ARGUMENT');
    expect(code(() => m.finish())).toBe('ERR_INVALID_ARGUMENT');
  });

  it('reuses a prebuilt index', () => {
    const index = new BlockIndex(sig);
    for (let i = 0; i < 3; i++) {
      const r = new Recorder();
      const m = new DeltaMatcher(sig, r, { index });
      m.push(basis);
      m.finish();
      expect(r.calls).toEqual([{ type: 'copy', offset: 0, length: 1000 }]);
    }
  });
});

function collect(sig: Signature, target: Uint8Array): OpCollector {
  const c = new OpCollector();
  matchDelta(sig, target, c);
  return c;
}

describe('DeltaMatcher laws', () => {
  it('gives the same ops for any chunking of the target', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.constantFrom<RollsumName>('rabinkarp', 'rollsum'),
        (basis, extra, blockLength, cuts, rollsum) => {
          const target = cat(basis.subarray(basis.length >> 2), extra, basis.subarray(0, basis.length >> 1));
          const sig = buildSignature(basis, { blockLength, rollsum, hash: 'md4', strongLength: 8 });
          const points = cuts.map((c) => c % (target.length + 1)).sort((a, b) => a - b);
          expect(opsOf(sig, target, points)).toEqual(opsOf(sig, target));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives the same ops for one-byte pushes and for huge pushes', () => {
    const basis = noise(300_000, 21);
    const target = cat(basis.subarray(1000, 200_000), noise(70_000, 22), basis.subarray(150_000), basis.subarray(0, 10_000));
    const sig = buildSignature(basis, { blockLength: 512 });
    const whole = opsOf(sig, target);
    const bytes = opsOf(
      sig,
      target,
      Array.from({ length: 40_000 }, (_, i) => i),
    );
    expect(bytes).toEqual(whole);
    expect(Buffer.from(patchOps(basis, collect(sig, target).finish())).equals(target)).toBe(true);
  });

  it('needs at most 1 + MAX_CANDIDATES strong comparisons per position with 20000 colliding blocks', () => {
    // A crafted signature: 20000 distinct blocks all with the weak sum of a zero window, so every
    // position of an all-zero target hits the weak sum and misses on the strong one.
    const blockLength = 64;
    const n = 20_000;
    const zeroWeak = weakSum('rabinkarp', new Uint8Array(blockLength));
    const strongLength = 8;
    const strong = noise(n * strongLength, 99);
    const sig: Signature = {
      ...resolveSignatureParams(undefined, { blockLength, strongLength, hash: 'md4' }),
      blockCount: n,
      weak: new Uint32Array(n).fill(zeroWeak),
      strong,
    };
    const target = new Uint8Array(100_000);
    const r = new Recorder();
    const m = new DeltaMatcher(sig, r);
    m.push(target);
    m.finish();
    const positions = target.length - blockLength + 1;
    expect(m.index.strongCompares).toBeLessThanOrEqual(positions * (1 + MAX_CANDIDATES) + blockLength);
    expect(m.index.strongCompares).toBeGreaterThan(positions); // the attack did reach the strong sums
    expect(m.index.strongSums).toBeLessThanOrEqual(positions + blockLength);
    expect(patchOps(new Uint8Array(0), r.calls)).toEqual(target);
  });

  it('builds the index of 20000 colliding blocks in linear work', () => {
    const n = 20_000;
    const sig: Signature = {
      ...resolveSignatureParams(undefined, { blockLength: 64, strongLength: 8, hash: 'md4' }),
      blockCount: n,
      weak: new Uint32Array(n).fill(12345),
      strong: noise(n * 8, 5),
    };
    const index = new BlockIndex(sig);
    expect(index.skipped).toBe(n - MAX_CANDIDATES);
    expect(index.fullBlocks).toBe(n);
    expect(index.lastLength).toBe(-1);
  });

  it('keeps its window bounded whatever the chunk and target size', () => {
    const basis = noise(100_000, 31);
    const sig = buildSignature(basis, { blockLength: 4096 });
    const m = new DeltaMatcher(sig, new OpCollector());
    m.push(noise(8 << 20, 32)); // one 8 MiB chunk, nothing matches
    const window = (m as unknown as { buf: Uint8Array }).buf.length;
    expect(window).toBeLessThanOrEqual((1 << 20) + (1 << 16) + 4096);
    m.finish();
  });

  it('a signature built from chunks matches like the one-shot one', () => {
    const basis = noise(50_000, 4);
    const b = new SignatureBuilder(resolveSignatureParams(basis.length));
    for (let i = 0; i < basis.length; i += 777) b.push(basis.subarray(i, i + 777));
    const target = cat(basis.subarray(7), basis.subarray(0, 7));
    expect(opsOf(b.finish(), target)).toEqual(opsOf(buildSignature(basis), target));
  });
});
