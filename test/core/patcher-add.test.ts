import { describe, expect, it } from 'vitest';
import { bytesBasis } from '../../src/core/basis.js';
import type { Op } from '../../src/core/ops.js';
import { addBytes, applyOps, checkAddRange, Patcher, patchOps } from '../../src/core/patcher.js';

const basis = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 255);
const diff = Uint8Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? 250 : 0));
const ops: Op[] = [
  { type: 'copy', offset: 0, length: 4 },
  { type: 'add', offset: 50, length: 10, diff },
  { type: 'literal', data: Uint8Array.of(7, 8) },
];
const expected = new Uint8Array(16);
expected.set(basis.subarray(0, 4));
for (let i = 0; i < 10; i++) expected[4 + i] = (basis[50 + i]! + diff[i]!) & 255;
expected.set([7, 8], 14);

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
};

describe('ADD ops in the patchers', () => {
  it('addBytes adds mod 256 into a fresh array', () => {
    const b = Uint8Array.of(1, 255);
    const out = addBytes(b, Uint8Array.of(1, 2));
    expect(out).toEqual(Uint8Array.of(2, 1));
    expect(out).not.toBe(b);
  });

  it('patchOps, Patcher (in pieces of maxCopyChunk) and applyOps agree', async () => {
    expect(patchOps(basis, ops)).toEqual(expected);
    const pieces: Uint8Array[] = [];
    const p = new Patcher(basis, (c) => pieces.push(c.slice()), { maxCopyChunk: 3 });
    for (const op of ops) op.type === 'copy' ? p.copy(op.offset, op.length) : op.type === 'add' ? p.add(op.offset, op.length, op.diff) : p.literal(op.data);
    expect(Uint8Array.from(Buffer.concat(pieces))).toEqual(expected);
    expect(Math.max(...pieces.map((c) => c.length))).toBe(3);
    expect(p.written).toBe(16);
    const out: Uint8Array[] = [];
    expect(await applyOps(bytesBasis(basis), ops, (c) => void out.push(c.slice()), { maxCopyChunk: 4 })).toBe(16);
    expect(Uint8Array.from(Buffer.concat(out))).toEqual(expected);
  });

  it('refuses an ADD outside the basis or with the wrong diff length as ERR_CORRUPT', async () => {
    expect(code(() => checkAddRange(60, 10, new Uint8Array(10), 64))).toBe('ERR_CORRUPT');
    expect(code(() => checkAddRange(0, 10, new Uint8Array(9), 64))).toBe('ERR_CORRUPT');
    expect(code(() => patchOps(basis, [{ type: 'add', offset: -1, length: 2, diff: new Uint8Array(2) }]))).toBe('ERR_CORRUPT');
    const p = new Patcher(basis, () => {});
    expect(code(() => p.add(60, 10, new Uint8Array(10)))).toBe('ERR_CORRUPT');
    await expect(applyOps(bytesBasis(basis), [{ type: 'add', offset: 0, length: 3, diff: new Uint8Array(1) }], () => {})).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
  });
});
