import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RABINKARP_MULT, RABINKARP_SEED, rabinKarpOf } from '../../src/core/rabinkarp.js';

/** The definition, one byte per step: h = h·MULT + x_i from h = SEED. */
function byDefinition(data: Uint8Array, start: number, end: number): number {
  let h = RABINKARP_SEED;
  for (let i = start; i < end; i++) h = (Math.imul(h, RABINKARP_MULT) + data[i]) | 0;
  return h >>> 0;
}

describe('rabinKarpOf (four bytes per step)', () => {
  it('equals the one-byte-per-step definition on every range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = data.length ? a % (data.length + 1) : 0;
        const end = start + (data.length - start ? b % (data.length - start + 1) : 0);
        expect(rabinKarpOf(data, start, end)).toBe(byDefinition(data, start, end));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the known answers of LIBRSYNC.md', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(rabinKarpOf(bytes, 0, 0)).toBe(0x00000001);
    expect(rabinKarpOf(bytes, 0, 1)).toBe(0x08104225);
    expect(rabinKarpOf(bytes, 0, 4)).toBe(0xaf981e97);
    expect(rabinKarpOf(bytes, 4, 8)).toBe(0x7cf3fc07);
    expect(rabinKarpOf(bytes, 5, 8)).toBe(0xf284a77f);
    expect(rabinKarpOf(bytes, 0, 256)).toBe(0xc1972381);
  });
});
