import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RolldeltaError } from '../../src/core/errors.js';
import { OpCollector, type Op } from '../../src/core/ops.js';
import { RdiffDeltaDecoder } from '../../src/format/rdiff-delta-decoder.js';
import { RdiffDeltaEncoder } from '../../src/format/rdiff-delta-encoder.js';
import { arbFractions, arbOps, bytewise, cat, codeOf, cuts, pushAll, replay } from './_helpers.js';

const MAGIC = [0x72, 0x73, 0x02, 0x36];

function encode(ops: readonly Op[]): Uint8Array {
  const out: Uint8Array[] = [];
  const enc = new RdiffDeltaEncoder((c) => out.push(c));
  replay(ops, enc);
  enc.finish();
  return cat(...out);
}

function decode(chunks: Uint8Array[], limits?: ConstructorParameters<typeof RdiffDeltaDecoder>[1]): Op[] {
  const sink = new OpCollector();
  pushAll(new RdiffDeltaDecoder(sink, limits), chunks);
  return sink.finish();
}

const hex = (a: Uint8Array) => Array.from(a, (b) => b.toString(16).padStart(2, '0')).join(' ');

describe('rdiff delta', () => {
  it('known answers for each command', () => {
    const abc = new TextEncoder().encode('abc');
    expect(hex(encode([{ type: 'literal', data: abc }]))).toBe('72 73 02 36 03 61 62 63 00');
    expect(hex(encode([{ type: 'copy', offset: 0x1234, length: 0x10 }]))).toBe('72 73 02 36 49 12 34 10 00');
    expect(hex(encode([]))).toBe('72 73 02 36 00');
    expect(hex(encode([{ type: 'copy', offset: 0, length: 1 }]))).toBe('72 73 02 36 45 00 01 00');
    expect(hex(encode([{ type: 'copy', offset: 0x12345678, length: 0x1_0000_0000 }]))).toBe(
      '72 73 02 36 50 12 34 56 78 00 00 00 01 00 00 00 00 00',
    );
    expect(hex(encode([{ type: 'copy', offset: 0x1_0000_0000, length: 0x100 }])).startsWith('72 73 02 36 52 00 00 00 01 00 00 00 00 01 00')).toBe(true);
    const l64 = encode([{ type: 'literal', data: new Uint8Array(64) }]);
    expect(l64[4]).toBe(0x40);
    const l65 = encode([{ type: 'literal', data: new Uint8Array(65) }]);
    expect(hex(l65.subarray(4, 6))).toBe('41 41');
    const l300 = encode([{ type: 'literal', data: new Uint8Array(300) }]);
    expect(hex(l300.subarray(4, 7))).toBe('42 01 2c');
    // A 200 000-byte literal is cut into commands of at most 65535 bytes.
    const big = encode([{ type: 'literal', data: new Uint8Array(200000) }]);
    expect(hex(big.subarray(4, 7))).toBe('42 ff ff');
    expect(decode([big])).toEqual([{ type: 'literal', data: new Uint8Array(200000) }]);
  });

  it('decodes every command width', () => {
    const bytes = Uint8Array.of(
      ...MAGIC,
      0x41, 2, 7, 8, // LITERAL_N1
      0x42, 0, 1, 9, // LITERAL_N2
      0x43, 0, 0, 0, 1, 10, // LITERAL_N4
      0x44, 0, 0, 0, 0, 0, 0, 0, 1, 11, // LITERAL_N8
      0x54, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // COPY offset 8 bytes, length 8 bytes
      0,
    );
    expect(decode([bytes])).toEqual([
      { type: 'literal', data: Uint8Array.of(7, 8, 9, 10, 11) },
      { type: 'copy', offset: 2 ** 32, length: 2 },
    ]);
  });

  it('round-trips random op lists in any chunking', () => {
    fc.assert(
      fc.property(arbOps(2 ** 53 - 200000), arbFractions, (ops, fr) => {
        expect(decode(cuts(encode(ops), fr))).toEqual(ops);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes one byte at a time', () => {
    const ops: Op[] = [
      { type: 'literal', data: new Uint8Array(100).fill(5) },
      { type: 'copy', offset: 70000, length: 3 },
      { type: 'literal', data: Uint8Array.of(1) },
    ];
    expect(decode(bytewise(encode(ops)))).toEqual(ops);
  });
});

describe('rdiff delta: hostile input', () => {
  const valid = encode([
    { type: 'copy', offset: 300, length: 70000 },
    { type: 'literal', data: new Uint8Array(70).fill(1) },
    { type: 'copy', offset: 1, length: 1 },
  ]);

  it('every truncation is ERR_TRUNCATED', () => {
    for (let i = 0; i < valid.length; i++) {
      expect(codeOf(() => decode([valid.subarray(0, i)])), `cut at ${i}`).toBe('ERR_TRUNCATED');
    }
  });

  it('refuses reserved opcodes, zero lengths and bytes after END', () => {
    for (let op = 0x55; op <= 0xff; op++) expect(codeOf(() => decode([Uint8Array.of(...MAGIC, op, 0, 0)]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([Uint8Array.of(...MAGIC, 0x45, 5, 0, 0)]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([Uint8Array.of(...MAGIC, 0x41, 0, 0)]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([Uint8Array.of(...MAGIC, 0, 0)]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([Uint8Array.of(0x72, 0x73, 0x01, 0x36, 0)]))).toBe('ERR_BAD_MAGIC');
    expect(codeOf(() => decode([Uint8Array.of(0x72, 0x74)]))).toBe('ERR_BAD_MAGIC');
  });

  it('streams a huge LITERAL_N8 without allocating, and enforces limits', () => {
    const n8 = (hi: number, lo: number) => Uint8Array.of(...MAGIC, 0x44, hi >>> 24, (hi >> 16) & 255, (hi >> 8) & 255, hi & 255, lo >>> 24, (lo >> 16) & 255, (lo >> 8) & 255, lo & 255);
    // 2^39 bytes claimed: within the default limit, so it streams what there is, then ends early.
    let got = 0;
    const dec = new RdiffDeltaDecoder({ copy() {}, literal: (d) => void (got += d.length) });
    dec.push(n8(0x80, 0));
    dec.push(new Uint8Array(1000));
    expect(got).toBe(1000);
    expect(codeOf(() => dec.push(new Uint8Array(0), true))).toBe('ERR_TRUNCATED');
    // 2^60: beyond 2^53.
    expect(codeOf(() => decode([n8(0x10000000, 0)]))).toBe('ERR_LIMIT');
    // Above a small maxTargetLength / maxLiteralBytes.
    expect(codeOf(() => decode([n8(0, 5000)], { limits: { maxTargetLength: 4096 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([n8(0, 5000)], { limits: { maxLiteralBytes: 4096 } }))).toBe('ERR_LIMIT');
    const copy8 = Uint8Array.of(...MAGIC, 0x54, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0);
    expect(codeOf(() => decode([copy8]))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([Uint8Array.of(...MAGIC, 0x46, 0, 0x10, 0)], { limits: { maxTargetLength: 15 } }))).toBe('ERR_LIMIT');
  });

  it('lets only RolldeltaError escape on random bytes after the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), arbFractions, (junk, fr) => {
        const code = codeOf(() => decode(cuts(Uint8Array.of(...MAGIC, ...junk), fr), { limits: { maxTargetLength: 1 << 20 } }));
        expect(['ERR_TRUNCATED', 'ERR_CORRUPT', 'ERR_LIMIT', 'no error']).toContain(code);
      }),
      { numRuns: 500 },
    );
  });

  it('is dead after an error, while a new instance decodes valid input', () => {
    const dec = new RdiffDeltaDecoder(new OpCollector());
    expect(codeOf(() => dec.push(Uint8Array.of(...MAGIC, 0x99)))).toBe('ERR_CORRUPT');
    expect(() => dec.push(valid, true)).toThrow(RolldeltaError);
    expect(decode([valid])).toHaveLength(3);
  });
});
