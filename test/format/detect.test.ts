import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OpCollector } from '../../src/core/ops.js';
import { AnyDeltaDecoder } from '../../src/format/delta-decoder.js';
import { describeFormat, detectFormat } from '../../src/format/detect.js';
import { resolveLimits } from '../../src/format/limits.js';
import { decodeSignature } from '../../src/format/signature-codec.js';
import { Cursor, unzigzag, varintLength, writeVarint, zigzag } from '../../src/format/varint.js';
import { codeOf } from './_helpers.js';

describe('detectFormat and the decoders it picks', () => {
  it('names each magic', () => {
    expect(detectFormat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1))).toBe('native-delta');
    expect(detectFormat(Uint8Array.of(0x72, 0x64, 0x73, 0x67))).toBe('native-signature');
    expect(detectFormat(Uint8Array.of(0x72, 0x73, 0x02, 0x36))).toBe('rdiff-delta');
    for (const m of [0x36, 0x37, 0x46, 0x47]) expect(detectFormat(Uint8Array.of(0x72, 0x73, 0x01, m))).toBe('rdiff-signature');
    expect(detectFormat(Uint8Array.of(0x72, 0x64, 0x69, 0x6d, 1))).toBe('image-delta');
    expect(detectFormat(Uint8Array.of(0x72, 0x73, 0x01, 0x48))).toBeUndefined();
    expect(detectFormat(Uint8Array.of(0x72, 0x64, 0x6c))).toBeUndefined();
    expect(detectFormat(new Uint8Array(0))).toBeUndefined();
  });

  it('picks the delta or signature decoder by magic, or refuses', () => {
    const sink = new OpCollector();
    const d = new AnyDeltaDecoder(sink);
    d.push(Uint8Array.of(0x72, 0x73)); // the magic may come split
    d.push(Uint8Array.of(0x02, 0x36, 1, 9, 0), true);
    expect(d.format).toBe('rdiff');
    expect(sink.finish()).toEqual([{ type: 'literal', data: Uint8Array.of(9) }]);
    const delta = (bytes: number[]) => codeOf(() => new AnyDeltaDecoder(new OpCollector()).push(Uint8Array.from(bytes), true));
    expect(delta([0x72, 0x73, 0x01, 0x47])).toBe('ERR_BAD_MAGIC');
    expect(delta([0x72, 0x64, 0x73, 0x67])).toBe('ERR_BAD_MAGIC');
    expect(delta([0x72])).toBe('ERR_TRUNCATED');
    const sig = (bytes: number[]) => codeOf(() => decodeSignature(Uint8Array.from(bytes)));
    expect(sig([0x72, 0x64, 0x6c, 0x74])).toBe('ERR_BAD_MAGIC');
    expect(sig([1, 2, 3, 4])).toBe('ERR_BAD_MAGIC');
    expect(sig([0x72, 0x73])).toBe('ERR_TRUNCATED');
  });

  it('says what was given instead: an image delta to patch, a signature as a delta, a delta as a signature', () => {
    const image = Uint8Array.of(0x72, 0x64, 0x69, 0x6d, 1, 0, 0, 0, 9);
    const asDelta = () => new AnyDeltaDecoder(new OpCollector()).push(image, true);
    expect(asDelta).toThrow(expect.objectContaining({ code: 'ERR_BAD_MAGIC', message: expect.stringContaining('this is an image delta') }));
    expect(asDelta).toThrow(/rolldelta image apply/);
    const sigAsDelta = () => new AnyDeltaDecoder(new OpCollector()).push(Uint8Array.of(0x72, 0x73, 0x01, 0x47), true);
    expect(sigAsDelta).toThrow('expected a delta (rolldelta or rdiff), but this is an rdiff signature file; check the order of the arguments');
    expect(() => decodeSignature(image)).toThrow('expected a signature (rolldelta or rdiff), but this is an image delta file');
    expect(() => decodeSignature(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1))).toThrow('but this is a native delta file');
    expect(describeFormat(undefined)).toBe('an unknown format');
  });

  it('resolveLimits fills defaults and refuses nonsense', () => {
    expect(resolveLimits().maxFrameBytes).toBe(16 << 20);
    expect(resolveLimits({ maxFrameBytes: 5 }).maxFrameBytes).toBe(5);
    expect(resolveLimits({ maxFrameBytes: 5 }).maxSignatureBlocks).toBe(2 ** 26);
    expect(codeOf(() => resolveLimits({ maxFrameBytes: -1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => resolveLimits({ maxHeaderBytes: 1.5 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('varint', () => {
  it('round-trips every safe integer size, canonically', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (v) => {
        const buf = new Uint8Array(8);
        const end = writeVarint(buf, 0, v);
        expect(end).toBe(varintLength(v));
        const c = new Cursor(buf, 0, end);
        expect(c.varint()).toBe(v);
        expect(c.pos).toBe(end);
      }),
    );
    const b = new Uint8Array(2);
    writeVarint(b, 0, 300);
    expect(Array.from(b)).toEqual([0xac, 0x02]);
  });

  it('zigzag is a bijection on |n| < 2^52', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 52 - 1), max: 2 ** 52 - 1 }), (n) => {
        const z = zigzag(n);
        expect(z).toBeGreaterThanOrEqual(0);
        expect(Number.isSafeInteger(z)).toBe(true);
        expect(unzigzag(z)).toBe(n);
      }),
    );
    expect([0, -1, 1, -2].map(zigzag)).toEqual([0, 1, 2, 3]);
  });

  it('refuses overlong, oversized and unterminated varints as corrupt', () => {
    const read = (bytes: number[]) => codeOf(() => new Cursor(Uint8Array.from(bytes), 0, bytes.length).varint());
    expect(read([0x80, 0x00])).toBe('ERR_CORRUPT');
    expect(read([0x80])).toBe('ERR_CORRUPT');
    expect(read([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).toBe('ERR_CORRUPT');
    expect(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).toBe('ERR_CORRUPT');
  });
});
