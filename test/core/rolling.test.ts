import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RollsumName } from '../../src/core/params.js';
import {
  RABINKARP_ADJ,
  RABINKARP_INVM,
  RABINKARP_MULT,
  RABINKARP_SEED,
  RabinKarp,
  rabinKarpPow,
} from '../../src/core/rabinkarp.js';
import { createRollingChecksum, weakSum } from '../../src/core/rolling.js';
import { ROLLSUM_CHAR_OFFSET, Rollsum } from '../../src/core/rollsum.js';

const range = (a: number, b: number) => Uint8Array.from({ length: b - a + 1 }, (_, i) => a + i);
const names: RollsumName[] = ['rollsum', 'rabinkarp'];

// Known answers from /work/shared/LIBRSYNC.md (librsync's own tests, checked against rdiff 2.3.2).
const known = {
  rollsum: { one: 0x001f001f, b0to3: 0x01400082, b1to4: 0x014a0086, b4to7: 0x01680092, b5to7: 0x00dc006f, b0to255: 0x3a009e80 },
  rabinkarp: { one: 0x08104225, b0to3: 0xaf981e97, b1to4: 0xe2ef15f3, b4to7: 0x7cf3fc07, b5to7: 0xf284a77f, b0to255: 0xc1972381 },
} as const;

describe.each(names)('%s known answers', (name) => {
  const k = known[name];

  it('from scratch (weakSum and update)', () => {
    const cases: [Uint8Array, number][] = [
      [new Uint8Array([0]), k.one],
      [range(0, 3), k.b0to3],
      [range(1, 4), k.b1to4],
      [range(4, 7), k.b4to7],
      [range(5, 7), k.b5to7],
      [range(0, 255), k.b0to255],
    ];
    for (const [data, want] of cases) {
      expect(weakSum(name, data)).toBe(want);
      const r = createRollingChecksum(name);
      r.update(data, 0, data.length);
      expect(r.digest()).toBe(want);
      expect(r.count).toBe(data.length);
    }
    if (name === 'rabinkarp') expect(weakSum(name, new Uint8Array(0))).toBe(1);
  });

  it('rolled: 0..3 rotated to 1..4, 4..7 rolled out to 5..7', () => {
    const r = createRollingChecksum(name);
    r.update(range(0, 3), 0, 4);
    r.rotate(0, 4);
    expect(r.digest()).toBe(k.b1to4);
    expect(r.count).toBe(4);
    r.reset();
    expect(r.count).toBe(0);
    r.update(range(4, 7), 0, 4);
    r.rollOut(4);
    expect(r.digest()).toBe(k.b5to7);
    expect(r.count).toBe(3);
  });

  it('respects start/end of update and weakSum', () => {
    const data = range(0, 255);
    expect(weakSum(name, data, 4, 8)).toBe(k.b4to7);
    const r = createRollingChecksum(name);
    r.update(data, 0, 2);
    r.update(data, 2, 4);
    expect(r.digest()).toBe(k.b0to3);
  });
});

describe.each(names)('%s laws', (name) => {
  it('rotating across the data equals weakSum of each window from scratch', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (data, w) => {
        const n = Math.min(w, data.length);
        const r = createRollingChecksum(name);
        r.update(data, 0, n);
        expect(r.digest()).toBe(weakSum(name, data, 0, n));
        for (let i = n; i < data.length; i++) {
          r.rotate(data[i - n], data[i]);
          expect(r.digest()).toBe(weakSum(name, data, i - n + 1, i + 1));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rolling out shrinks the window to the suffix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const r = createRollingChecksum(name);
        r.update(data, 0, data.length);
        for (let i = 0; i < data.length; i++) {
          r.rollOut(data[i]);
          expect(r.count).toBe(data.length - i - 1);
          expect(r.digest()).toBe(weakSum(name, data, i + 1, data.length));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('handles windows far larger than 2^16 bytes (wrapping 32-bit math)', () => {
    const data = new Uint8Array(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
    const n = 70_000;
    const r = createRollingChecksum(name);
    r.update(data, 0, n);
    for (let i = n; i < data.length; i++) r.rotate(data[i - n], data[i]);
    expect(r.digest()).toBe(weakSum(name, data, data.length - n, data.length));
    for (let i = data.length - n; i < data.length - 10; i++) r.rollOut(data[i]);
    expect(r.digest()).toBe(weakSum(name, data, data.length - 10, data.length));
  });
});

describe('exported constants and helpers (for inlined hot loops)', () => {
  it('Rabin-Karp constants are consistent', () => {
    expect(Math.imul(RABINKARP_MULT, RABINKARP_INVM) >>> 0).toBe(1);
    expect(RABINKARP_ADJ).toBe(RABINKARP_MULT - RABINKARP_SEED);
    expect(ROLLSUM_CHAR_OFFSET).toBe(31);
  });

  it('rabinKarpPow(n) = MULT^n mod 2^32', () => {
    let p = 1;
    for (let n = 0; n < 1000; n++) {
      expect(rabinKarpPow(n)).toBe(p >>> 0);
      p = Math.imul(p, RABINKARP_MULT);
    }
    const r = new RabinKarp();
    const data = new Uint8Array(123_457);
    r.update(data, 0, data.length);
    expect(r.mult >>> 0).toBe(rabinKarpPow(data.length));
  });

  it('the formulas in the comments reproduce the classes (as a matcher would inline them)', () => {
    const data = range(0, 255);
    const n = 16;
    const pow = rabinKarpPow(n);
    let h = weakSum('rabinkarp', data, 0, n) | 0;
    let s1 = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      s1 = (s1 + data[i] + ROLLSUM_CHAR_OFFSET) | 0;
      s2 = (s2 + s1) | 0;
    }
    for (let i = n; i < data.length; i++) {
      const out = data[i - n], inb = data[i];
      h = (Math.imul(h, RABINKARP_MULT) + inb - Math.imul(pow, out + RABINKARP_ADJ)) | 0;
      s1 = (s1 + inb - out) | 0;
      s2 = (s2 + s1 - Math.imul(n, out + ROLLSUM_CHAR_OFFSET)) | 0;
      expect(h >>> 0).toBe(weakSum('rabinkarp', data, i - n + 1, i + 1));
      expect((((s2 & 0xffff) << 16) | (s1 & 0xffff)) >>> 0).toBe(weakSum('rollsum', data, i - n + 1, i + 1));
    }
  });

  it('classes and names line up; unknown names are ERR_INVALID_ARGUMENT', () => {
    expect(createRollingChecksum('rollsum')).toBeInstanceOf(Rollsum);
    expect(createRollingChecksum('rabinkarp')).toBeInstanceOf(RabinKarp);
    expect(createRollingChecksum('rollsum').name).toBe('rollsum');
    expect(createRollingChecksum('rabinkarp').name).toBe('rabinkarp');
    const err = expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' });
    expect(() => createRollingChecksum('adler32' as never)).toThrow(err);
    expect(() => weakSum('adler32' as never, new Uint8Array(1))).toThrow(err);
  });
});
