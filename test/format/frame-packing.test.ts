// Which packings packFrame tries: they cost time (zlib -9, context mixing), never bytes.
import { describe, expect, it } from 'vitest';
import { packFrame, type FrameJob } from '../../src/format/_frame-packing.js';
import { CODEC_LITERAL, CODEC_SECTIONS, CODEC_SECTIONS_CM, OP_LITERAL } from '../../src/format/native-codes.js';
import { fflateRawDeflate, type RawDeflate } from '../../src/format/raw-deflate.js';
import { varintLength, writeVarint } from '../../src/format/varint.js';
import { prng } from '../core/_diff-helpers.js';

/** A frame of one literal op. */
function literalFrame(bytes: Uint8Array, level: number): FrameJob {
  const tag = bytes.length * 4 + OP_LITERAL;
  const tagsRaw = 1 + varintLength(tag);
  const raw = new Uint8Array(tagsRaw + bytes.length);
  writeVarint(raw, writeVarint(raw, 0, 1), tag);
  raw.set(bytes, tagsRaw);
  return { raw, tagsRaw, offsLen: 0, litLen: bytes.length, level, frameStart: 0 };
}

/** fflate's deflate, counting its calls. */
function countingDeflate(): RawDeflate & { calls: number } {
  const d = { ...fflateRawDeflate, calls: 0 };
  d.deflate = (data, level) => {
    d.calls++;
    return fflateRawDeflate.deflate(data, level);
  };
  return d;
}

const LINE = 'def handler(request): return response.json()\n';
const text = (n: number) => new TextEncoder().encode(LINE.repeat(Math.ceil(n / LINE.length)).slice(0, n));

describe('packFrame', () => {
  it('at level 9 tries deflate beside context mixing only on frames under 64 KiB', () => {
    for (const [n, tries] of [[20_000, true], [(64 << 10) + 100, false]] as const) {
      const d = countingDeflate();
      const packed = packFrame(literalFrame(text(n), 9), d);
      expect(d.calls > 0, `${n} bytes`).toBe(tries);
      expect(packed.codec).toBe(CODEC_SECTIONS_CM);
    }
    const d = countingDeflate();
    expect(packFrame(literalFrame(text(100_000), 6), d).codec).toBe(CODEC_SECTIONS);
    expect(d.calls).toBeGreaterThan(0);
  });

  it('stores a frame that is one literal of random bytes without trying to pack it', () => {
    for (const level of [6, 9]) {
      const d = countingDeflate();
      const bytes = prng(100_000, level);
      const packed = packFrame(literalFrame(bytes, level), d);
      expect(packed.codec).toBe(CODEC_LITERAL);
      expect(Buffer.from(packed.payload).equals(Buffer.from(bytes))).toBe(true);
      expect(d.calls).toBe(0);
    }
  });
});
