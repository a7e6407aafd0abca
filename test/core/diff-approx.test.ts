import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiffEmitter } from '../../src/core/_diff-emit.js';
import { backwardApprox, forwardApprox, splitOverlap } from '../../src/core/_diff-approx.js';
import { DiffMatcher, diffOps } from '../../src/core/diff-matcher.js';
import type { DiffOptions } from '../../src/core/diff-options.js';
import { OpCollector, type Op } from '../../src/core/ops.js';
import { patchOps } from '../../src/core/patcher.js';
import { applyOps, expectSameBytes, expectSameOps, prng, RawAddSink, RawSink } from './_diff-helpers.js';

const KiB = 1024;
const MiB = 1 << 20;

/** Mimics a recompiled binary: the basis with one byte in every `every` shifted by a small amount. */
function perturbed(basis: Uint8Array, every: number, seed: number): Uint8Array {
  const t = basis.slice();
  const r = prng(Math.ceil(basis.length / every) + 1, seed);
  for (let i = 0, j = 0; i < t.length; i += every, j++) t[i + (r[j]! % every) < t.length ? i + (r[j]! % every) : i] += 1 + (r[j]! & 3);
  return t;
}

function diff(basis: Uint8Array, target: Uint8Array, opts: DiffOptions = {}): Op[] {
  const c = new OpCollector();
  diffOps(basis, target, c, opts);
  return c.finish();
}

function count(ops: readonly Op[], type: Op['type']): number {
  return ops.reduce((a, op) => a + (op.type === type ? (op.type === 'literal' ? op.data.length : op.length) : 0), 0);
}

function chunked(basis: Uint8Array, target: Uint8Array, cuts: readonly number[], sink: RawSink, opts: DiffOptions = {}): Op[] {
  const m = new DiffMatcher(basis, sink, opts);
  let o = 0;
  for (const c of cuts) {
    const k = Math.min(c, target.length - o);
    m.push(target.subarray(o, o + k));
    o += k;
  }
  m.push(target.subarray(o));
  m.finish();
  return sink.ops;
}

describe('approximate matching (ADD ops)', () => {
  it('sends a region whose bytes mostly agree as ADD ops, not literals', () => {
    const basis = prng(256 * KiB, 11);
    const target = perturbed(basis, 20, 12);
    const ops = diff(basis, target);
    expectSameBytes(patchOps(basis, ops), target);
    expect(count(ops, 'add')).toBeGreaterThan(0.9 * target.length);
    expect(count(ops, 'literal')).toBeLessThan(0.01 * target.length);
  });

  it('with approximate: false, or a sink without add(), emits only copies and literals', () => {
    const basis = prng(128 * KiB, 13);
    const target = perturbed(basis, 20, 14);
    const off = diff(basis, target, { approximate: false });
    expect(off.every((op) => op.type !== 'add')).toBe(true);
    expectSameBytes(patchOps(basis, off), target);
    const raw = chunked(basis, target, [], new RawSink());
    expect(raw.every((op) => op.type !== 'add')).toBe(true);
    expectSameOps(raw, chunked(basis, target, [], new RawAddSink(), { approximate: false }));
    expect(() => diff(basis, target, { approximate: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('keeps exact changes exact: a 1-byte substitution is copy, literal, copy', () => {
    const basis = prng(64 * KiB, 15);
    const target = basis.slice();
    target[1000] ^= 0x5a;
    expect(diff(basis, target).map((op) => op.type)).toEqual(['copy', 'literal', 'copy']);
  });

  it('leaves unrelated random content literal', () => {
    const basis = prng(64 * KiB, 16);
    const target = prng(64 * KiB, 17);
    expect(count(diff(basis, target), 'literal')).toBe(target.length);
  });

  it('round-trips and gives the same ops for any chunking (laws)', () => {
    const arb = fc.record({
      len: fc.integer({ min: 0, max: 200_000 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
      every: fc.integer({ min: 2, max: 64 }),
      insertAt: fc.double({ min: 0, max: 1, noNaN: true }),
      insertLen: fc.integer({ min: 0, max: 5000 }),
      cuts: fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(arb, ({ len, seed, every, insertAt, insertLen, cuts }) => {
        const basis = prng(len, seed);
        const p = perturbed(basis, every, seed + 1);
        const at = Math.floor(insertAt * p.length);
        const target = new Uint8Array(p.length + insertLen);
        target.set(p.subarray(0, at));
        target.set(prng(insertLen, seed + 2), at);
        target.set(p.subarray(at), at + insertLen);
        const whole = chunked(basis, target, [], new RawAddSink());
        expectSameBytes(applyOps(basis, whole), target);
        expectSameOps(chunked(basis, target, cuts, new RawAddSink()), whole);
        expectSameOps(chunked(basis, target, [1, 7, 4096, 65_537], new RawAddSink()), whole);
      }),
      { numRuns: 40 },
    );
  });

  it.each([
    ['every 3rd byte changed', (b: Uint8Array) => perturbed(b, 3, 21)],
    ['every 2nd byte changed', (b: Uint8Array) => perturbed(b, 2, 22)],
    ['zero basis, sparse ones', (b: Uint8Array) => b.map((_, i) => (i % 37 === 0 ? 1 : 0))],
  ])('stays linear (work counter) with %s', (_name, mk) => {
    const n = 4 * MiB;
    const basis = _name.startsWith('zero') ? new Uint8Array(n) : prng(n, 20);
    const target = mk(basis);
    const sink = new RawAddSink();
    const m = new DiffMatcher(basis, sink);
    m.push(target);
    m.finish();
    expect(m.work).toBeLessThan(8 * n);
    expectSameBytes(applyOps(basis, sink.ops), target);
  });
});

describe('approximate extension primitives', () => {
  const b = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

  it('forwardApprox keeps the best-scoring prefix (more than 40% agreeing)', () => {
    expect(forwardApprox(b, 0, Uint8Array.from([1, 2, 0, 4, 0, 0, 0, 0]), 0, 8)).toBe(4);
    expect(forwardApprox(b, 0, Uint8Array.from([0, 0, 0]), 0, 3)).toBe(0);
    expect(forwardApprox(b, 8, Uint8Array.from([9, 10, 11]), 0, 3)).toBe(2); // stops at the basis end
    expect(forwardApprox(b, 10, Uint8Array.from([1]), 0, 1)).toBe(0);
  });

  it('backwardApprox mirrors it, ending at basis position c', () => {
    expect(backwardApprox(b, 10, Uint8Array.from([0, 0, 0, 0, 7, 0, 9, 10]), 0, 8)).toBe(4);
    expect(backwardApprox(b, 2, Uint8Array.from([1, 2, 3]), 0, 2)).toBe(2);
    expect(backwardApprox(b, 0, Uint8Array.from([1]), 0, 1)).toBe(0);
  });

  it('splitOverlap picks the split keeping the most agreements', () => {
    // target 1 2 3 | 9 9 9: forward (basis 0..) explains the first half, backward (basis ..10) the second.
    const t = Uint8Array.from([1, 2, 3, 5, 6, 7]);
    const basis = Uint8Array.from([1, 2, 3, 0, 0, 0, 0, 0, 5, 6, 7]);
    expect(splitOverlap(basis, 0, 11, t, 0, 6, 6, 6)).toBe(3);
  });
});

describe('DiffEmitter', () => {
  const basis = prng(4096, 30);

  it('folds a short exact copy into adjacent adds and sends an all-zero add as a copy', () => {
    const t = basis.slice();
    t[10] ^= 1;
    t[300] ^= 1;
    const c = new OpCollector();
    const e = new DiffEmitter(basis, c);
    e.add(0, 20, t, 0);
    e.copy(20, 200); // short: folded
    e.add(220, 100, t, 220);
    e.copy(320, 2000); // long: stays a copy
    e.add(2320, 50, t, 2320); // all zero: a copy, merged with the previous one by the collector
    e.flush();
    const ops = c.finish();
    expect(ops.map((op) => op.type)).toEqual(['add', 'copy']);
    expect(ops[0]).toMatchObject({ type: 'add', offset: 0, length: 320 });
    expect(ops[1]).toEqual({ type: 'copy', offset: 320, length: 2050 });
    expectSameBytes(patchOps(basis, ops), t.subarray(0, 2370));
  });
});
