import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cmDecode, cmEncode } from '../../src/format/cm-codec.js';
import { cmTableBits } from '../../src/format/_cm-model.js';
import { opSegments } from '../../src/format/_op-segments.js';
import { CODEC_SECTIONS_CM, FRAME_HEAD, FRAME_OPS } from '../../src/format/native-codes.js';
import type { JavaScriptWork } from '../../src/format/native-delta-decoder.js';
import { diff, patch } from '../../src/format/operations.js';
import { readU32 } from '../../src/format/_reader.js';
import { patchChunks } from '../../src/stream/patch-stream.js';

/** Ops frames of a native delta whose payload is coded by context mixing, found by walking the frame heads. */
function contextMixingFrames(delta: Uint8Array): number {
  let at = 5 + 8 + readU32(delta, 5); // magic and version, then the header block (length, map, CRC)
  let n = 0;
  for (; delta[at] === FRAME_OPS; at += FRAME_HEAD + readU32(delta, at + 1)) if (delta[at + FRAME_HEAD] === CODEC_SECTIONS_CM) n++;
  return n;
}

async function patched(basis: Uint8Array, delta: Uint8Array, beforeJavaScriptWork: (kind: JavaScriptWork) => void): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of patchChunks(basis, [delta], { beforeJavaScriptWork })) out.push(c);
  return Buffer.concat(out);
}

const text = (n: number) => new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(Math.ceil(n / 45)).slice(0, n));

/**
 * Delta-like bytes from a fixed seed: words with repeats (literals), runs of zeros with sparse
 * small values (differences), and a copy of an earlier stretch (for the match model).
 */
function deltaLike(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = ['patch', 'basis', ' the ', 'target', '\n', '0x7f', '{"a":', 'delta', '/usr/lib/'].map((w) => new TextEncoder().encode(w));
  let x = seed;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16;
  for (let i = 0; i < n; ) {
    const kind = next() % 3;
    const len = Math.min(n - i, 16 + (next() % 512));
    if (kind === 0) {
      for (let j = 0; j < len; ) for (const b of words[next() % words.length]!) if (j < len) out[i + j++] = b;
    } else if (kind === 1) {
      for (let j = 0; j < len; j++) out[i + j] = next() % 9 === 0 ? next() & 0xff : 0;
    } else if (i > len) {
      const from = next() % (i - len);
      out.copyWithin(i, from, from + len);
    }
    i += len;
  }
  return out;
}

/**
 * Lengths and SHA-256 of the known inputs coded: the model is the format, so once released these
 * never change (a new model is a new codec).
 */
const KNOWN = [
  '2721 5d362a36be4df14822090b6d18d94a65a7383955b2841cd240045e5728e35e52',
  '23837 f5da1ce91322c8284f14861ff4c4346a95e6ba863ae8a3fa8a4be61b3ca3db75',
  '2643 69a4b732ef406c0157562a577c32324d3cef96fb805dff85b4ef87f968dcd1a3',
  '121863 a1d2d404920e3d14fe8d5801b7fb7c2f53a6d3da8302971b2b31d612fa9abf02',
];

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('context-mixing section coder', () => {
  it('decode(encode(x)) equals x, with and without segments', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(600), { maxLength: 20 }), (raw, cuts) => {
        expect(cmDecode(cmEncode(raw), raw.length)).toEqual(raw);
        const segs = cuts.flatMap((c, i) => [i * 700, c]);
        expect(cmDecode(cmEncode(raw, segs), raw.length, segs)).toEqual(raw);
      }),
      { numRuns: 150 },
    );
  });

  it('codes known inputs to the same bytes as ever (the model is part of the delta format)', () => {
    const short = deltaLike(20_000, 7); // below 64 KiB: order-0 probability map
    const long = deltaLike(200_000, 11); // order-1 map, larger tables
    const huge = deltaLike(1_100_000, 13); // tables at their cap
    const segs = [3, 700, 4096, 9000, 20_000, 10_300];
    const got = [cmEncode(short), cmEncode(long), cmEncode(short, segs), cmEncode(huge)].map((c) => `${c.length} ${sha256(c)}`);
    expect(got).toEqual(KNOWN);
    expect(cmDecode(cmEncode(long), long.length)).toEqual(long);
  });

  it('codes repetitive text far below its size and beats a stored copy of random bytes by nothing', () => {
    const t = text(20_000);
    expect(cmEncode(t).length).toBeLessThan(t.length / 20);
    const zeros = new Uint8Array(100_000);
    expect(cmEncode(zeros).length).toBeLessThan(200);
  });

  it('reuses one set of model tables from section to section (fresh ones per frame piled up for the collector)', () => {
    const big = text(300_000);
    const small = text(1000);
    const a = cmDecode(cmEncode(big), big.length);
    expect(a).toEqual(big);
    // The next model (a smaller section, then a bigger one) works in the same memory, and decodes
    // right after a bigger one: its tables are reset, not left over.
    const b = cmDecode(cmEncode(small), small.length);
    expect(b).toEqual(small);
    expect(b.buffer).toBe(a.buffer);
    const c = cmDecode(cmEncode(big), big.length);
    expect(c).toEqual(big);
    expect(c.buffer).toBe(a.buffer);
  });

  it('sizes the context table by the section, 8 slots a byte up to 2^23 slots (16 MiB) however long', () => {
    expect(cmTableBits(0)).toBe(12);
    expect(cmTableBits(1000)).toBe(13);
    expect(cmTableBits(100_000)).toBe(20);
    expect(cmTableBits(1 << 20)).toBe(23);
    expect(cmTableBits(16 << 20)).toBe(23);
  });

  it('names every function its decoding runs per bit or byte cm* (the CLI compiles only cm* for it)', () => {
    // cli/optimizing-compiler.ts turns V8's optimizing compiler on with --turbo-filter=cm* when
    // context mixing alone needs it: a hot function named otherwise stays unoptimized (a helper
    // named squash made 1 MiB decode 2.5x slower). Cold ones (table set-up, the encoder's growth).
    const cold = new Set(['constructor', 'takeTables', 'grow']);
    for (const file of ['_cm-model.ts', 'cm-codec.ts']) {
      const src = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'format', file), 'utf8');
      const names = [...src.matchAll(/^(?:export )?(?:function (\w+)|const (\w+) = \()|^ {2}(?:private )?(\w+)\(.*\)(?:: \w+)? \{$/gm)].map((m) => m[1] ?? m[2] ?? m[3]!);
      expect(names.length, file).toBeGreaterThan(file === 'cm-codec.ts' ? 2 : 10);
      for (const name of names) if (!cold.has(name)) expect(name, `${file}: ${name}`).toMatch(/^cm[A-Z]/);
    }
  });

  it('decodes hostile input to exactly the declared length without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(5000), (junk, n) => {
        expect(cmDecode(junk, n).length).toBe(n);
      }),
      { numRuns: 100 },
    );
  });

  it('reads op segments from a tags section, stopping at malformed varints', () => {
    // 3 ops: literal 2, copy 5, add 4 → tags 2*4+0, 5*4+1, 4*4+2.
    const tags = Uint8Array.of(3, 8, 21, 18);
    expect(opSegments(tags, 0, 100)).toEqual([100, 2]);
    expect(opSegments(tags, 2, 100)).toEqual([107, 4]);
    expect(opSegments(Uint8Array.of(200, 0x80), 0, 0)).toEqual([]);
    expect(opSegments(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f), 0, 0)).toEqual([]);
  });

  it('level 9 diffs (context mixing) patch back exactly and are smaller than level 6 on new text', async () => {
    const basis = text(200_000);
    const target = basis.slice();
    for (let i = 0; i < 50; i++) target[i * 3989] ^= 0x20;
    // New prose the basis never had: words drawn from a small vocabulary, as text is.
    const words = ['delta', 'image', 'layer', 'device', 'update', 'server', 'patch', 'basis', 'frame', 'header', 'the', 'of', 'and'];
    let seed = 7;
    const prose: string[] = [];
    for (let i = 0; i < 8000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      prose.push(words[(seed >>> 16) % words.length]!);
    }
    const insert = new TextEncoder().encode(prose.join(' '));
    const t2 = new Uint8Array(target.length + insert.length);
    t2.set(target.subarray(0, 100_000));
    t2.set(insert, 100_000);
    t2.set(target.subarray(100_000), 100_000 + insert.length);
    const d9 = diff(basis, t2, { level: 9 });
    const d6 = diff(basis, t2, { level: 6 });
    expect(patch(basis, d9)).toEqual(t2);
    expect(d9.length).toBeLessThan(d6.length);
    // Each context-mixing frame is announced before it is decoded (the CLI turns V8's optimizing
    // compiler on there), in memory and streaming alike; a level 6 delta has none.
    const cm = diff(basis, t2, { level: 9, frameSize: 16_384 });
    const frames = contextMixingFrames(cm);
    expect(frames).toBeGreaterThan(1);
    const calls = { memory: 0, stream: 0, level6: 0 };
    expect(patch(basis, cm, { beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && calls.memory++) })).toEqual(t2);
    expect(new Uint8Array(await patched(basis, cm, (kind) => void (kind === 'context-mixing' && calls.stream++)))).toEqual(t2);
    patch(basis, d6, { beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && calls.level6++) });
    expect(calls).toEqual({ memory: frames, stream: frames, level6: 0 });
  });
});
