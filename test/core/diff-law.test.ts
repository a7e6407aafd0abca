import fc from 'fast-check';
import { describe, it } from 'vitest';
import { DiffMatcher } from '../../src/core/diff-matcher.js';
import type { DiffOptions } from '../../src/core/diff-options.js';
import { concat, expectSameBytes, expectSameOps, applyOps, prng, RawSink } from './_diff-helpers.js';
import type { Op } from '../../src/core/ops.js';

function run(basis: Uint8Array, target: Uint8Array, cuts: number[], opts: DiffOptions): Op[] {
  const sink = new RawSink();
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

/** A basis plus a target built from it by an edit script (shift, splice, repeat, move, random). */
const pair = fc
  .record({
    basisKind: fc.constantFrom('random', 'repeated', 'runs', 'empty', 'tiny'),
    basisLen: fc.integer({ min: 0, max: 150_000 }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
    edits: fc.array(
      fc.record({
        kind: fc.constantFrom('keep', 'insert', 'skip', 'move', 'repeat', 'flip'),
        at: fc.nat(),
        len: fc.integer({ min: 0, max: 40_000 }),
      }),
      { maxLength: 12 },
    ),
  })
  .map(({ basisKind, basisLen, seed, edits }) => {
    let basis: Uint8Array;
    if (basisKind === 'empty') basis = new Uint8Array(0);
    else if (basisKind === 'tiny') basis = prng(basisLen % 40, seed);
    else if (basisKind === 'repeated') {
      const p = prng(1 + (seed % 97), seed);
      basis = new Uint8Array(basisLen);
      for (let i = 0; i < basisLen; i++) basis[i] = p[i % p.length];
    } else if (basisKind === 'runs') {
      basis = prng(basisLen, seed).map((b) => (b < 200 ? 0 : b));
    } else basis = prng(basisLen, seed);
    const parts: Uint8Array[] = [];
    let cursor = 0;
    for (const [j, e] of edits.entries()) {
      const n = basis.length;
      const at = n === 0 ? 0 : e.at % n;
      if (e.kind === 'keep') {
        parts.push(basis.subarray(cursor, Math.min(n, cursor + e.len)));
        cursor = Math.min(n, cursor + e.len);
      } else if (e.kind === 'insert') parts.push(prng(e.len % 3000, seed + j));
      else if (e.kind === 'skip') cursor = Math.min(n, cursor + e.len);
      else if (e.kind === 'move') parts.push(basis.subarray(at, at + e.len));
      else if (e.kind === 'repeat') parts.push(concat(basis.subarray(at, at + (e.len % 500)), basis.subarray(at, at + (e.len % 500))));
      else {
        const x = basis.slice(at, at + (e.len % 2000));
        for (let i = 0; i < x.length; i += 97) x[i] ^= 0x21;
        parts.push(x);
      }
    }
    parts.push(basis.subarray(cursor));
    return { basis, target: concat(...parts) };
  });

const options = fc.record(
  {
    seedLength: fc.integer({ min: 1, max: 8 }).map((w) => 4 * w),
    stride: fc.integer({ min: 1, max: 64 }),
    minMatch: fc.integer({ min: 4, max: 64 }),
    maxCandidates: fc.integer({ min: 1, max: 8 }),
  },
  { requiredKeys: [] },
);

describe('diff laws', () => {
  it('patching the ops against the basis gives the target, and any chunking gives the same ops', () => {
    fc.assert(
      fc.property(pair, options, fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 8 }), ({ basis, target }, opts, cuts) => {
        const whole = run(basis, target, [], opts);
        expectSameBytes(applyOps(basis, whole), target);
        for (const op of whole) {
          if (op.type === 'copy' && (op.length <= 0 || op.offset < 0)) throw new Error('bad copy');
          if (op.type === 'literal' && op.data.length === 0) throw new Error('empty literal');
        }
        expectSameOps(run(basis, target, cuts, opts), whole);
      }),
      { numRuns: 120 },
    );
  });

  it('a target equal to the basis is at most one copy', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), options, (basis, opts) => {
        const ops = run(basis, basis, [], opts);
        if (basis.length === 0 ? ops.length !== 0 : ops.length !== 1 || ops[0].type !== 'copy') {
          throw new Error(`expected one copy, got ${ops.length} ops`);
        }
      }),
    );
  });
});
