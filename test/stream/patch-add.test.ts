import { describe, expect, it } from 'vitest';
import { OpCollector } from '../../src/core/ops.js';
import { diff, NativeDeltaDecoder, patch, patchChunks } from '../../src/index.js';
import { collect, cutByFractions } from '../helpers/chunking.js';

/** A recompiled-binary-like pair: every 16th byte of the basis shifted, plus a moved block. */
function pair(): { basis: Uint8Array; target: Uint8Array } {
  const basis = new Uint8Array(3 << 20);
  let x = 12345;
  for (let i = 0; i < basis.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    basis[i] = x >>> 24;
  }
  const t = basis.slice();
  for (let i = 5; i < t.length; i += 16) t[i] += 3;
  t.copyWithin(0, 2 << 20, (2 << 20) + 4096);
  return { basis, target: t };
}

describe('ADD ops end to end', () => {
  const { basis, target } = pair();
  const d = diff(basis, target);

  it('the native diff uses ADD ops and is far smaller than the changed bytes', () => {
    const ops = new OpCollector();
    new NativeDeltaDecoder(ops).push(d, true);
    expect(ops.finish().some((op) => op.type === 'add')).toBe(true);
    expect(d.length).toBeLessThan(target.length / 16);
  });

  it('patch and patchChunks (1 MiB reads, any delta chunking) rebuild the target', async () => {
    expect(Buffer.compare(patch(basis, d), target)).toBe(0);
    const out = await collect(patchChunks(basis, cutByFractions(d, [0.1, 0.5, 0.51])));
    expect(Buffer.compare(out, target)).toBe(0);
  });

  it('with approximate: false the delta has no ADD ops and still patches', () => {
    const r = diff(basis, target, { approximate: false });
    const ops = new OpCollector();
    new NativeDeltaDecoder(ops).push(r, true);
    expect(ops.finish().some((op) => op.type === 'add')).toBe(false);
    expect(Buffer.compare(patch(basis, r), target)).toBe(0);
  });

  it('hundreds of short ADD ops a chunk (their differences gathered aside as the buffer grows) patch, also through reused chunks', async () => {
    const t = basis.slice();
    for (let s = 0; s < t.length; s += 4096) for (let i = s; i < s + 600; i += 8) t[i] ^= 0x40;
    const short = diff(basis, t);
    const ops = new OpCollector();
    new NativeDeltaDecoder(ops).push(short, true);
    const adds = ops.finish().filter((op) => op.type === 'add');
    expect(adds.length).toBeGreaterThan(500); // ~256 a 1 MiB chunk, 150 KB of differences each
    expect(adds.every((op) => op.length < 1000)).toBe(true);
    for (const reuse of [false, 3]) {
      const out = await collect(patchChunks(basis, cutByFractions(short, [0.3, 0.31]), {}, reuse));
      expect(Buffer.compare(out, t)).toBe(0);
    }
  });
});
