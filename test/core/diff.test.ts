import { describe, expect, it } from 'vitest';
import { DiffIndex } from '../../src/core/diff-index.js';
import { DiffMatcher, diffOps } from '../../src/core/diff-matcher.js';
import { defaultStride, resolveDiffOptions } from '../../src/core/diff-options.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { OpCollector, type Op } from '../../src/core/ops.js';
import { applyOps, concat, expectSameBytes, expectSameOps, prng, RawSink } from './_diff-helpers.js';

function diff(basis: Uint8Array | DiffIndex, target: Uint8Array, opts = {}): Op[] {
  const c = new OpCollector();
  diffOps(basis, target, c, opts);
  return c.finish();
}

function literalBytes(ops: readonly Op[]): number {
  return ops.reduce((a, op) => a + (op.type === 'literal' ? op.data.length : 0), 0);
}

/** Pushes `target` cut at pseudo-random points of up to `maxChunk` bytes; returns the raw ops and the work counter. */
function diffChunked(basis: Uint8Array, target: Uint8Array, maxChunk: number, seed: number): { ops: Op[]; work: number } {
  const sink = new RawSink();
  const m = new DiffMatcher(basis, sink);
  const cuts = prng(4096, seed);
  for (let o = 0, j = 0; o < target.length; j++) {
    const k = Math.min(target.length - o, 1 + ((cuts[j % cuts.length] * 257 + cuts[(j + 1) % cuts.length]) % maxChunk));
    m.push(target.subarray(o, o + k));
    o += k;
  }
  m.finish();
  return { ops: sink.ops, work: m.work };
}

const MiB = 1 << 20;

describe('diffOps: shapes of the result', () => {
  it('an unchanged 4 MiB basis is one copy', () => {
    const basis = prng(4 * MiB, 1);
    expect(diff(basis, basis)).toEqual([{ type: 'copy', offset: 0, length: 4 * MiB }]);
  });

  it('a file moved from the start of the basis to its end is two copies', () => {
    const a = prng(MiB, 2);
    const b = prng(MiB, 3);
    const ops = diff(concat(a, b), concat(b, a));
    expect(ops).toEqual([
      { type: 'copy', offset: MiB, length: MiB },
      { type: 'copy', offset: 0, length: MiB },
    ]);
  });

  it('a 1-byte substitution in 1 MiB is copy, literal(1), copy', () => {
    const basis = prng(MiB, 4);
    const target = basis.slice();
    target[123_457] ^= 0x5a;
    expect(diff(basis, target)).toEqual([
      { type: 'copy', offset: 0, length: 123_457 },
      { type: 'literal', data: target.subarray(123_457, 123_458) },
      { type: 'copy', offset: 123_458, length: MiB - 123_458 },
    ]);
  });

  it('insertions and deletions resume at the shifted displacement', () => {
    const basis = prng(MiB, 5);
    const ins = prng(300, 6);
    const target = concat(basis.subarray(0, 1000), ins, basis.subarray(1000, 500_000), basis.subarray(500_100));
    const ops = diff(basis, target);
    expectSameBytes(applyOps(basis, ops), target);
    expect(ops).toEqual([
      { type: 'copy', offset: 0, length: 1000 },
      { type: 'literal', data: ins },
      { type: 'copy', offset: 1000, length: 499_000 },
      { type: 'copy', offset: 500_100, length: MiB - 500_100 },
    ]);
  });

  it('matches start at any basis byte, not only at stride positions (backward extension)', () => {
    const basis = prng(256 * 1024, 7);
    for (const start of [1, 7, 15, 4097, 99_999]) {
      const target = concat(prng(100, 1000 + start), basis.subarray(start, start + 5000), prng(100, 2000 + start));
      const ops = diff(basis, target, { stride: 16 });
      expect(applyOps(basis, ops)).toEqual(target);
      expect(ops.filter((o) => o.type === 'copy')).toEqual([{ type: 'copy', offset: start, length: 5000 }]);
    }
  });

  it('finds a match inside a long run of new content (sparse lookups there) exactly', () => {
    const basis = prng(MiB, 14);
    for (const [off, len] of [[12_345, 2000], [777_777, 200]]) {
      const target = concat(prng(100_000, 15), basis.subarray(off, off + len), prng(50_000, 16));
      const copies = diff(basis, target).filter((o) => o.type === 'copy');
      expect(copies).toEqual([{ type: 'copy', offset: off, length: len }]);
    }
  });

  it('indexes structured records (counter, small numbers, zeros) without losing their seeds', () => {
    // A linear seed hash put such records on a lattice of a few buckets: they filled up and the
    // index kept 12% of a 32 MiB basis's positions (49% of 8 MiB); short pieces came out as literals.
    const basis = new Uint8Array(32 * MiB);
    const dv = new DataView(basis.buffer);
    const noise = prng(basis.length / 8, 21);
    for (let o = 0, id = 0; o < basis.length; o += 16) {
      const r = noise[o >> 4];
      id += 1 + (r & 3);
      dv.setUint32(o, id & 0xffff, true);
      dv.setUint32(o + 4, (r * 7 + noise[(o >> 4) + 1]) & 0x3ff, true);
      dv.setUint32(o + 8, (r >> 2) & 7, true);
    }
    const index = DiffIndex.build(basis);
    const used = index.table.reduce((n, e) => n + (e === -1 ? 0 : 1), 0);
    expect(used / (basis.length / index.stride)).toBeGreaterThan(0.98);
    const pieces = [100_000, 16 * MiB + 3, 32 * MiB - 300_000].map((at) => basis.subarray(at, at + 200));
    const target = concat(prng(500, 22), pieces[0], prng(500, 23), pieces[1], prng(500, 24), pieces[2]);
    expect(literalBytes(diff(index, target))).toBeLessThan(1500 + 3 * 48);
  });

  it('an unrelated random target is all literal', () => {
    const ops = diff(prng(MiB, 8), prng(MiB, 9));
    expect(ops.every((o) => o.type === 'literal')).toBe(true);
    expect(literalBytes(ops)).toBe(MiB);
  });

  it('handles empty and tiny inputs', () => {
    const x = prng(10, 10);
    expect(diff(new Uint8Array(0), new Uint8Array(0))).toEqual([]);
    expect(diff(x, new Uint8Array(0))).toEqual([]);
    expect(diff(new Uint8Array(0), x)).toEqual([{ type: 'literal', data: x }]);
    expect(diff(x, x)).toEqual([{ type: 'copy', offset: 0, length: 10 }]);
    expect(applyOps(x, diff(x, x.subarray(3)))).toEqual(x.subarray(3));
  });

  it('shorter matches than minMatch stay literal', () => {
    const basis = prng(64 * 1024, 11);
    const target = concat(prng(1000, 12), basis.subarray(30_000, 30_030), prng(1000, 13));
    expect(diff(basis, target, { seedLength: 16, minMatch: 40, stride: 1 }).every((o) => o.type === 'literal')).toBe(true);
    expect(diff(basis, target, { seedLength: 16, minMatch: 20, stride: 1 }).some((o) => o.type === 'copy')).toBe(true);
  });
});

describe('DiffMatcher: streaming', () => {
  it('gives the same ops for any chunking (literal cap, look-ahead and push slices crossed)', () => {
    const basis = prng(3 * MiB, 20);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const s = prng(4, 100 + i);
      const off = ((s[0] << 16) | (s[1] << 8) | s[2]) % (3 * MiB - 70_000);
      parts.push(basis.subarray(off, off + 1 + ((s[3] * 271) % 70_000)), prng(s[3] * 40, 200 + i));
    }
    parts.push(prng(700_000, 300)); // a literal run longer than the cap
    const target = concat(...parts);
    const whole = diffChunked(basis, target, target.length, 1);
    expectSameBytes(applyOps(basis, whole.ops), target);
    for (const [maxChunk, seed] of [[1, 2], [100, 3], [70_000, 4], [1_500_000, 5]] as const) {
      const part = maxChunk === 1 ? target.subarray(0, 200_000) : target;
      const expected = maxChunk === 1 ? diffChunked(basis, part, part.length, 1).ops : whole.ops;
      expectSameOps(diffChunked(basis, part, maxChunk, seed).ops, expected);
    }
  });

  it('emits long literals in pieces no larger than 256 KiB and never an empty op', () => {
    const sink = new RawSink();
    diffOps(prng(1000, 1), prng(MiB, 2), sink);
    for (const op of sink.ops) {
      if (op.type === 'literal') expect(op.data.length).toBeGreaterThan(0);
      if (op.type === 'literal') expect(op.data.length).toBeLessThanOrEqual(256 * 1024);
      else expect(op.length).toBeGreaterThan(0);
    }
  });

  it('accepts a prebuilt DiffIndex, reused for many targets', () => {
    const basis = prng(MiB, 30);
    const index = DiffIndex.build(basis);
    for (let i = 0; i < 3; i++) {
      const target = concat(basis.subarray(i * 1000, 300_000), prng(500, i), basis.subarray(600_000));
      expectSameOps(diff(index, target), diff(basis, target));
      expectSameBytes(applyOps(basis, diff(index, target)), target);
    }
  });

  it('refuses push after finish and a second finish', () => {
    const m = new DiffMatcher(prng(100, 1), new OpCollector());
    m.finish();
    expect(() => m.push(new Uint8Array(1))).toThrow(RolldeltaError);
    expect(() => m.finish()).toThrow(RolldeltaError);
  });
});

describe('diff options', () => {
  it('fills defaults and grows the stride with the basis', () => {
    expect(resolveDiffOptions(1000)).toEqual({ seedLength: 16, stride: 16, minMatch: 24, maxCandidates: 4 });
    expect(defaultStride(64 * MiB)).toBe(16);
    expect(defaultStride(512 * MiB)).toBe(32);
    expect(defaultStride(2 * 1024 * MiB)).toBe(64);
  });

  it.each([
    { seedLength: 3 },
    { seedLength: 30 },
    { seedLength: 65 },
    { stride: 0 },
    { stride: 1.5 },
    { minMatch: 3 },
    { maxCandidates: 17 },
    { maxCandidates: Number.NaN },
  ])('rejects %o with ERR_INVALID_ARGUMENT', (opts) => {
    expect(() => diffOps(prng(10, 1), prng(10, 2), new OpCollector(), opts)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
  });

  it('rejects non-bytes inputs and a bad sink', () => {
    expect(() => diffOps('abc' as never, prng(10, 2), new OpCollector())).toThrow(RolldeltaError);
    expect(() => diffOps(prng(10, 1), [1, 2] as never, new OpCollector())).toThrow(RolldeltaError);
    expect(() => new DiffMatcher(prng(10, 1), {} as never)).toThrow(RolldeltaError);
  });

  it('sizes the index to the basis: 8 bytes per indexed position (half the basis by default), not the next power of two', () => {
    // 4 MiB + 4 KiB: a power-of-two table would have doubled to 4 MiB here.
    for (const [length, opts] of [[4 * MiB, {}], [4 * MiB + 4096, {}], [3 * MiB + 123, { stride: 8 }], [4 * MiB + 4096, { maxCandidates: 12 }]] as const) {
      const basis = prng(length, 1);
      const index = DiffIndex.build(basis, opts);
      const positions = Math.floor((length - index.seedLength) / index.stride) + 1;
      expect(index.byteLength, `${length} ${JSON.stringify(opts)}`).toBeGreaterThanOrEqual(8 * positions);
      expect(index.byteLength).toBeLessThanOrEqual(8 * positions + 4 * index.slots);
      // Half full on average: full buckets drop under 1% of a random basis's positions.
      const kept = index.table.reduce((n, e) => n + (e === -1 ? 0 : 1), 0);
      expect(kept / positions).toBeGreaterThan(0.99);
    }
    expect(DiffIndex.build(prng(4 * MiB + 4096, 1)).byteLength).toBeLessThanOrEqual((4 * MiB + 4096) / 2 + 32);
  });

  it('keeps the first positions of a full bucket: a basis of one repeated byte fills one bucket with its first slots', () => {
    for (const maxCandidates of [4, 12]) {
      const index = DiffIndex.build(new Uint8Array(100_000).fill(7), { stride: 4, maxCandidates });
      const kept = [...index.table].map((e, i) => [i, e] as const).filter(([, e]) => e !== -1);
      expect(kept).toHaveLength(index.slots);
      const first = kept[0]![0];
      expect(first % index.slots).toBe(0);
      // Slots filled in order with positions 0, 1, 2, .. (in stride units, below the check bits).
      expect(kept.map(([i, e]) => [i - first, e & ((1 << index.posBits) - 1)])).toEqual(kept.map((_, j) => [j, j]));
    }
  });

  it('starts the table 16 bytes into its buffer, shared or not, so that buckets sit in one cache line on glibc (_line-aligned.ts)', () => {
    const basis = prng(MiB, 2);
    for (const table of [undefined, 'shared'] as const) {
      const index = DiffIndex.create(basis, {}, table);
      expect(index.table.byteOffset).toBe(16);
      expect(index.table.buffer.byteLength).toBe(index.byteLength + 16);
      expect(index.table.every((e) => e === -1)).toBe(true);
    }
  });
});

describe('complexity guards (work counter, not time)', () => {
  const n = 8 * MiB;
  const cases: [string, () => Uint8Array, () => Uint8Array][] = [
    ['zero basis, zero target', () => new Uint8Array(n), () => new Uint8Array(n)],
    ['zero basis, all-ones target', () => new Uint8Array(n), () => new Uint8Array(n).fill(1)],
    [
      'repeated 64-byte pattern, same pattern shifted with sparse edits',
      () => {
        const p = prng(64, 9);
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i++) b[i] = p[i & 63];
        return b;
      },
      () => {
        const p = prng(64, 9);
        const t = new Uint8Array(n);
        for (let i = 0; i < n; i++) t[i] = p[(i + 5) & 63];
        for (let i = 1000; i < n; i += 4099) t[i] ^= 1;
        return t;
      },
    ],
  ];
  it.each(cases)('%s stays linear', (_name, mkBasis, mkTarget) => {
    const basis = mkBasis();
    const target = mkTarget();
    const c = new OpCollector();
    const m = new DiffMatcher(basis, c);
    m.push(target);
    m.finish();
    expect(m.work).toBeLessThan(8 * n);
    expectSameBytes(applyOps(basis, c.finish()), target);
  });
});
