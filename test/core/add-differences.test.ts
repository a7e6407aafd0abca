import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDifferences } from '../../src/core/add-differences.js';

/** The definition, a byte at a time. */
function reference(out: Uint8Array, at: number, diff: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) out[at + i] = (out[at + i]! + diff[from + i]!) & 0xff;
}

const words = (b: Uint8Array) => new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);

describe('addDifferences', () => {
  it('adds byte by byte modulo 256 for any bytes, offsets and lengths, word views or not', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300, size: 'max' }),
        fc.uint8Array({ minLength: 1, maxLength: 300, size: 'max' }),
        fc.nat({ max: 299 }),
        fc.nat({ max: 299 }),
        fc.nat({ max: 300 }),
        fc.boolean(),
        (target, diffs, a, f, len, views) => {
          const at = a % target.length;
          const from = f % diffs.length;
          const n = len % (Math.min(target.length - at, diffs.length - from) + 1);
          // Word views need buffers of whole words from byte 0.
          const out = new Uint8Array((target.length + 3) & ~3);
          out.set(target);
          const d = new Uint8Array((diffs.length + 3) & ~3);
          d.set(diffs);
          const want = out.slice();
          reference(want, at, d, from, n);
          addDifferences(out, views ? words(out) : undefined, at, d, views ? words(d) : undefined, from, n);
          expect(out).toEqual(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps each byte in its lane: 0xff + 1 wraps to 0 without carrying into the next byte', () => {
    const out = new Uint8Array(64).fill(0xff);
    const d = new Uint8Array(64).fill(1);
    d[9] = 0x80;
    out[9] = 0x80;
    addDifferences(out, words(out), 4, d, words(d), 4, 40);
    expect([...out.subarray(0, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(out[9]).toBe(0);
    expect(out.subarray(4, 44).every((b, i) => i === 5 || b === 0)).toBe(true);
    expect([...out.subarray(44)].every((b) => b === 0xff)).toBe(true);
  });
});
