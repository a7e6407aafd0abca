import fc from 'fast-check';
import { deflateSync } from 'fflate';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/core/crc32.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { OpCollector, type Op } from '../../src/core/ops.js';
import type { DeltaHeader } from '../../src/format/delta-header.js';
import { NativeDeltaDecoder } from '../../src/format/native-delta-decoder.js';
import { NativeDeltaEncoder, type NativeDeltaEncoderOptions } from '../../src/format/native-delta-encoder.js';
import { diff, patch } from '../../src/format/operations.js';
import { fflateRawDeflate } from '../../src/format/raw-deflate.js';
import { writeVarint } from '../../src/format/varint.js';
import { nodeRawDeflate } from '../../src/stream/node-raw-deflate.js';
import { concat, prng } from '../core/_diff-helpers.js';
import { arbFractions, arbOps, bytewise, cat, codeOf, cuts, pushAll, replay, targetLength } from './_helpers.js';

const SHA = new Uint8Array(32).map((_, i) => i * 7);
/** Magic and header block of HEADER, and of a header with only mode and codec 'deflate'. */
const HEADER_BYTES = 5 + 8 + 1 + (2 + 5) + (2 + 3) + (2 + 2 + 32);
const SMALL_HEADER_BYTES = 5 + 8 + 1 + (2 + 5);
const HEADER: DeltaHeader = { mode: 'diff', codec: 'deflate', basisLength: 1000, basisSha256: new Uint8Array(32).fill(1) };

function encode(ops: readonly Op[], header: DeltaHeader = HEADER, opts?: NativeDeltaEncoderOptions): Uint8Array {
  const out: Uint8Array[] = [];
  const enc = new NativeDeltaEncoder(header, (c) => out.push(c), opts);
  replay(ops, enc);
  enc.finish({ targetLength: targetLength(ops), targetSha256: SHA });
  return cat(...out);
}

function decode(chunks: Uint8Array[], limits?: ConstructorParameters<typeof NativeDeltaDecoder>[1]) {
  const sink = new OpCollector();
  let header: DeltaHeader | undefined;
  let end: { targetLength: number; targetSha256: Uint8Array } | undefined;
  const dec = new NativeDeltaDecoder(sink, { ...limits, onheader: (h) => (header = h), onend: (t) => (end = t) });
  pushAll(dec, chunks);
  return { ops: sink.finish(), header, end };
}

/** A frame with a correct CRC around `body`. */
function frame(type: number, body: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + body.length);
  f[0] = type;
  new DataView(f.buffer).setUint32(1, body.length);
  new DataView(f.buffer).setUint32(5, crc32(body));
  f.set(body, 9);
  return f;
}

/** Magic + header of a valid delta (what the encoder writes first). */
function prefix(): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new NativeDeltaEncoder(HEADER, (c) => chunks.push(c));
  enc.finish({ targetLength: 0, targetSha256: SHA });
  return chunks[0];
}

const sample: Op[] = [
  { type: 'copy', offset: 10, length: 100 },
  { type: 'literal', data: new TextEncoder().encode('hello, world') },
  { type: 'copy', offset: 5, length: 7 },
  { type: 'copy', offset: 2 ** 45, length: 3 },
  { type: 'literal', data: new Uint8Array(40).fill(9) },
  { type: 'add', offset: 20, length: 30, diff: new Uint8Array(30).map((_, i) => (i % 7 === 0 ? i : 0)) },
  { type: 'copy', offset: 50, length: 9 },
];

describe('native delta v1', () => {
  it('round-trips random op lists, in any chunking, with either codec and small frames', () => {
    fc.assert(
      fc.property(
        arbOps(2 ** 49, 300, true),
        arbFractions,
        fc.constantFrom<'deflate' | 'stored'>('deflate', 'stored'),
        fc.constantFrom(64, 200, 1 << 20),
        (ops, fr, codec, frameSize) => {
          const bytes = encode(ops, { ...HEADER, codec }, { frameSize });
          const got = decode(cuts(bytes, fr));
          expect(got.ops).toEqual(ops);
          expect(got.header).toEqual({ ...HEADER, codec });
          expect(got.end).toEqual({ targetLength: targetLength(ops), targetSha256: SHA });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodes the same when pushed one byte at a time', () => {
    const bytes = encode(sample, HEADER, { frameSize: 64 });
    expect(decode(bytewise(bytes)).ops).toEqual(sample);
  });

  it('merges adjacent copies and literals; sequential copies cost little', () => {
    const out: Uint8Array[] = [];
    const enc = new NativeDeltaEncoder({ mode: 'rsync', codec: 'stored' }, (c) => out.push(c));
    for (let i = 0; i < 1000; i++) enc.copy(i * 10, 10);
    enc.literal(Uint8Array.of(1));
    enc.literal(Uint8Array.of(2));
    enc.finish({ targetLength: 10002, targetSha256: SHA });
    const got = decode([cat(...out)]).ops;
    expect(got).toEqual([
      { type: 'copy', offset: 0, length: 10000 },
      { type: 'literal', data: Uint8Array.of(1, 2) },
    ]);
  });

  it('cuts frames at frameSize, and a big literal spans frames', () => {
    const big = new Uint8Array(5000).map((_, i) => (i * 31) & 255);
    const ops: Op[] = [{ type: 'literal', data: big }];
    const bytes = encode(ops, { mode: 'diff', codec: 'stored' }, { frameSize: 1000 });
    let frames = 0;
    const dec = new NativeDeltaDecoder({ copy() {}, literal: (d) => void (frames += d.length > 0 ? 1 : 0) });
    dec.push(bytes, true);
    expect(frames).toBeGreaterThanOrEqual(5);
    expect(decode([bytes], { limits: { maxFrameBytes: 1100 } }).ops).toEqual(ops);
  });

  it('stores a frame that is one literal as its bytes alone (codec 4), and a stored frame without its raw length', () => {
    const noise = prng(5000, 3);
    const bytes = encode([{ type: 'literal', data: noise }], { mode: 'diff', codec: 'deflate' }, { frameSize: 1000 });
    const head = prefix().length - (HEADER_BYTES - SMALL_HEADER_BYTES);
    // Five frames of head (9), codec (1) and 1000 bytes; the trailer frame is 9 + 2 + 32 + 1 bytes.
    expect(bytes.length).toBe(head + 5 * 1010 + 44);
    expect(bytes[head + 9]).toBe(4);
    expect(decode([bytes]).ops).toEqual([{ type: 'literal', data: noise }]);
    const mixed: Op[] = [{ type: 'copy', offset: 9, length: 99 }, { type: 'literal', data: prng(50, 4) }];
    const stored = encode(mixed, { mode: 'diff', codec: 'stored' });
    const at = head + 2 + 7; // the header says c: 'stored'
    expect(stored[at + 9]).toBe(0);
    // codec, op count, copy tag (2 bytes), literal tag, offset (2 bytes), 50 literal bytes.
    expect(new DataView(stored.buffer, stored.byteOffset).getUint32(at + 1)).toBe(1 + 1 + 2 + 1 + 2 + 50);
    expect(decode([stored]).ops).toEqual(mixed);
  });

  it('keeps the header small: one-letter keys, codec only when stored', () => {
    // Magic 5, length and CRC 8, map: mode, basisLength (uint16), basisSha256 (bin 32).
    expect(prefix().length).toBe(HEADER_BYTES);
    expect(HEADER_BYTES).toBeLessThanOrEqual(5 + 8 + 1 + 7 + 5 + 36);
  });

  it.each([6, 9])('decodes the same ops with opsOnly, leaving out literal and diff bytes (level %i)', (level) => {
    const basis = prng(300_000, 5);
    const target = concat(basis.subarray(0, 100_000), new TextEncoder().encode('new text, '.repeat(3000)), basis.subarray(120_000));
    for (let i = 150_000; i < 180_000; i += 50) target[i] ^= 1; // a near-match: ADD ops
    const delta = diff(basis, target, { level });
    const shape = (opsOnly: boolean) => {
      const ops: string[] = [];
      new NativeDeltaDecoder(
        { copy: (o, l) => ops.push(`c${o}+${l}`), literal: (d) => ops.push(`l${d.length}`), add: (o, l) => ops.push(`a${o}+${l}`) },
        { opsOnly },
      ).push(delta, true);
      return ops;
    };
    const full = shape(false);
    expect(full.some((o) => o[0] === 'a') && full.some((o) => o[0] === 'l')).toBe(true);
    expect(shape(true)).toEqual(full);
  });

  it('keeps copies of the header and trailer digests, not views of a Buffer the caller reuses', () => {
    const bytes = Buffer.from(encode(sample));
    const { header, end } = decode([bytes]);
    bytes.fill(0);
    expect(header!.basisSha256).toEqual(HEADER.basisSha256);
    expect(end!.targetSha256).toEqual(SHA);
  });

  it('fires onheader before any op and lets it refuse the delta', () => {
    const events: string[] = [];
    const dec = new NativeDeltaDecoder(
      { copy: () => events.push('op'), literal: () => events.push('op') },
      {
        onheader: () => {
          events.push('header');
          throw new RolldeltaError('ERR_BASIS_MISMATCH', 'wrong basis');
        },
      },
    );
    expect(codeOf(() => dec.push(encode(sample), true))).toBe('ERR_BASIS_MISMATCH');
    expect(events).toEqual(['header']);
  });

  it('keeps unknown header keys out and ignores them when decoding', async () => {
    const { encodeHeaderBlock } = await import('../../src/format/_header-block.js');
    // On the wire the fields have one-letter keys (m mode, c codec, b basisLength, ...).
    const block = encodeHeaderBlock({ m: 'diff', c: 'stored', future: [1, 2, 3] });
    const body = new Uint8Array(50);
    let p = writeVarint(body, 0, 0);
    body.set(SHA, p);
    p = writeVarint(body, p + 32, 0);
    const bytes = cat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1), block, frame(0xff, body.subarray(0, p)));
    expect(decode([bytes]).header).toEqual({ mode: 'diff', codec: 'stored' });
    const noCodec = encodeHeaderBlock({ m: 'diff' });
    expect(decode([cat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1), noCodec, frame(0xff, body.subarray(0, p)))]).header).toEqual({ mode: 'diff', codec: 'deflate' });
    const wrong = encodeHeaderBlock({ m: 'diff', c: 'stored', b: 'x' });
    expect(codeOf(() => decode([cat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1), wrong)]))).toBe('ERR_CORRUPT');
    const unknownCodec = encodeHeaderBlock({ m: 'diff', c: 'zstd' });
    expect(codeOf(() => decode([cat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1), unknownCodec)]))).toBe('ERR_UNSUPPORTED');
    const noMode = encodeHeaderBlock({ mode: 'diff' });
    expect(codeOf(() => decode([cat(Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1), noMode)]))).toBe('ERR_CORRUPT');
  });

  it('writes an empty delta as magic, header and trailer', () => {
    expect(decode([encode([])]).ops).toEqual([]);
  });
});

describe('native delta v1: hostile input', () => {
  const valid = encode(sample, HEADER, { frameSize: 64 });

  it('every truncation is ERR_TRUNCATED', () => {
    for (let i = 0; i < valid.length; i++) {
      expect(codeOf(() => decode([valid.subarray(0, i)])), `cut at ${i}`).toBe('ERR_TRUNCATED');
    }
  });

  it('every single-bit flip is a RolldeltaError', () => {
    const seen = new Set<string>();
    for (let i = 0; i < valid.length * 8; i++) {
      const bad = valid.slice();
      bad[i >> 3] ^= 1 << (i & 7);
      const code = codeOf(() => decode([bad]));
      expect(code, `bit ${i}`).not.toBe('no error');
      seen.add(code);
    }
    expect(seen).toContain('ERR_CHECKSUM');
    expect(seen).toContain('ERR_BAD_MAGIC');
  });

  it('a CRC mismatch emits no op of that frame', () => {
    const bytes = encode([{ type: 'literal', data: new Uint8Array(10).fill(3) }], { mode: 'diff', codec: 'stored' });
    const bad = bytes.slice();
    bad[bad.length - 43 - 3] ^= 0xff; // inside the ops frame's body (the trailer frame is 43 bytes)
    let ops = 0;
    const dec = new NativeDeltaDecoder({ copy: () => ops++, literal: () => ops++ });
    expect(codeOf(() => dec.push(bad, true))).toBe('ERR_CHECKSUM');
    expect(ops).toBe(0);
  });

  it('refuses huge lengths before allocating', () => {
    const magic = Uint8Array.of(0x72, 0x64, 0x6c, 0x74, 1);
    expect(codeOf(() => decode([cat(magic, Uint8Array.of(0xff, 0xff, 0xff, 0xff))]))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([cat(magic, Uint8Array.of(0, 0, 0, 0))]))).toBe('ERR_CORRUPT');
    const head = prefix();
    expect(codeOf(() => decode([cat(head, Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))]))).toBe('ERR_LIMIT');
    // rawLength 2^40 in a frame with a valid CRC.
    const body = new Uint8Array(20);
    body[0] = 1;
    const p = writeVarint(body, 1, 2 ** 40);
    expect(codeOf(() => decode([cat(head, frame(1, body.subarray(0, p + 4)))]))).toBe('ERR_LIMIT');
    // Small limits: a frame of 2000 raw bytes against maxFrameBytes 1000.
    const big = encode([{ type: 'literal', data: new Uint8Array(2000).map((_, i) => i * 13) }], { mode: 'diff', codec: 'stored' });
    expect(codeOf(() => decode([big], { limits: { maxFrameBytes: 1000 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([big], { limits: { maxTargetLength: 1999 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([big], { limits: { maxHeaderBytes: 8 } }))).toBe('ERR_LIMIT');
  });

  it('refuses a literal frame (codec 4) that is empty or over the limits', () => {
    const head = prefix();
    const lit = (n: number) => frame(1, cat(Uint8Array.of(4), prng(n, 8)));
    const got: Uint8Array[] = [];
    new NativeDeltaDecoder({ copy() {}, literal: (d) => void got.push(d.slice()) }, { limits: { maxFrameBytes: 10 } }).push(cat(head, lit(10)));
    expect(got).toEqual([prng(10, 8)]);
    expect(codeOf(() => decode([cat(head, frame(1, Uint8Array.of(4)))]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([cat(head, lit(11))], { limits: { maxFrameBytes: 10 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([cat(head, lit(11))], { limits: { maxLiteralBytes: 10 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([cat(head, lit(6), lit(6))], { limits: { maxTargetLength: 11 } }))).toBe('ERR_LIMIT');
    expect(codeOf(() => decode([cat(head, lit(6))]))).toBe('ERR_TRUNCATED');
  });

  it.each([
    ['fflate', fflateRawDeflate],
    ['node:zlib', nodeRawDeflate],
  ])('refuses a deflate bomb and a raw length that lies (%s)', (_, rawDeflate) => {
    const head = prefix();
    const zeros = new Uint8Array(100000);
    const packed = deflateSync(zeros);
    for (const claim of [100, 99999, 100001]) {
      const body = new Uint8Array(packed.length + 10);
      body[0] = 1;
      const p = writeVarint(body, 1, claim);
      body.set(packed, p);
      expect(codeOf(() => decode([cat(head, frame(1, body.subarray(0, p + packed.length)))], { rawDeflate })), `claim ${claim}`).toBe('ERR_CORRUPT');
    }
    // Valid deflate that is longer than the raw it claims is refused too.
    expect(codeOf(() => decode([cat(head, frame(1, Uint8Array.of(1, 2, 0x03, 0x00)))], { rawDeflate }))).toBe('ERR_CORRUPT');
    // An unknown codec.
    expect(codeOf(() => decode([cat(head, frame(1, Uint8Array.of(7, 1, 0)))]))).toBe('ERR_UNSUPPORTED');
  });

  it('frame by frame: each push stops after an ops frame, and going on gives the same ops', () => {
    // Literal frames of zeros pack ~1000x: a few KiB of delta carry several 1 MiB frames.
    const ops: Op[] = [
      { type: 'literal', data: new Uint8Array(3 << 20) },
      { type: 'copy', offset: 7, length: 100 },
      { type: 'literal', data: new Uint8Array(1000).fill(3) },
    ];
    for (const rawDeflate of [fflateRawDeflate, nodeRawDeflate]) {
      const bytes = encode(ops, HEADER, { rawDeflate, frameSize: 1 << 20 });
      expect(bytes.length).toBeLessThan(16 << 10);
      const perPush: number[] = [];
      let held = 0;
      const sink = new OpCollector();
      const counting = {
        copy: (o: number, n: number) => (held++, sink.copy(o, n)),
        literal: (d: Uint8Array) => (held++, sink.literal(d)),
      };
      const dec = new NativeDeltaDecoder(counting, { rawDeflate, frameByFrame: true });
      dec.push(bytes); // the whole delta at once: still one frame per push
      perPush.push(held);
      while (dec.paused) {
        held = 0;
        dec.push(new Uint8Array(0));
        perPush.push(held);
      }
      dec.push(new Uint8Array(0), true);
      expect(perPush.length).toBeGreaterThanOrEqual(4); // 3 MiB of zeros, then the rest: one frame per push
      const all = decode([bytes], { rawDeflate }).ops;
      expect(all.length).toBe(3);
      expect(sink.finish()).toEqual(all);
      // A delta cut short is still ERR_TRUNCATED once the frames it has are out.
      const cut = new NativeDeltaDecoder({ copy() {}, literal() {} }, { rawDeflate, frameByFrame: true });
      expect(
        codeOf(() => {
          cut.push(bytes.subarray(0, bytes.length - 3), true);
          while (cut.paused) cut.push(new Uint8Array(0), true);
        }),
      ).toBe('ERR_TRUNCATED');
    }
  });

  it('decodes with either DEFLATE what the other encoded', () => {
    const basis = prng(300_000, 5);
    const target = concat(prng(50_000, 6), basis.subarray(1000, 200_000), new TextEncoder().encode('text '.repeat(20_000)));
    for (const [enc, dec] of [[fflateRawDeflate, nodeRawDeflate], [nodeRawDeflate, fflateRawDeflate]]) {
      const d = diff(basis, target, { rawDeflate: enc });
      expect(Buffer.compare(patch(basis, d, { rawDeflate: dec }), target)).toBe(0);
    }
  });

  it('announces the JavaScript inflater before a payload that inflates more than 32x, and only then', () => {
    // 3 MiB of zeros: frames that deflate ~1000x, inflated by fflate into a reused buffer.
    const basis = prng(100_000, 8);
    const zeros = concat(basis.subarray(0, 50_000), new Uint8Array(3 << 20));
    let calls = 0;
    expect(Buffer.compare(patch(basis, diff(basis, zeros), { beforeJavaScriptWork: (kind) => void (kind === 'inflate' && calls++) }), zeros)).toBe(0);
    expect(calls).toBeGreaterThanOrEqual(3); // at least once per 1 MiB frame
    // A frame of random literals and repeated text inflates a few times: node:zlib alone, no call.
    const plain = concat(prng(200_000, 9), basis.subarray(500, 90_000), new TextEncoder().encode('some text that deflates a little '.repeat(3000)));
    calls = 0;
    expect(Buffer.compare(patch(basis, diff(basis, plain, { rawDeflate: nodeRawDeflate }), { rawDeflate: nodeRawDeflate, beforeJavaScriptWork: (kind) => void (kind === 'inflate' && calls++) }), plain)).toBe(0);
    expect(calls).toBe(0);
  });

  it('announces each frame\'s ADD bytes before emitting its ops, and nothing for a delta without them', () => {
    // A basis edited in scattered bytes: approximate copies, whose differences the patcher adds.
    const basis = prng(400_000, 10);
    const edited = basis.slice();
    for (let i = 1000; i < edited.length; i += 50) edited[i] ^= 0x40;
    const d = diff(basis, edited, { frameSize: 65_536 });
    const ops = new OpCollector();
    const order: string[] = [];
    let announced = 0;
    const sink = { copy: (o: number, n: number) => ops.copy(o, n), literal: (b: Uint8Array) => ops.literal(b), add: (o: number, n: number, x: Uint8Array) => (order.push('op'), ops.add(o, n, x)) };
    new NativeDeltaDecoder(sink, { beforeJavaScriptWork: (kind, n) => void (kind === 'add' && ((announced += n), order.push('announce'))) }).push(d, true);
    const addBytes = ops.finish().reduce((s, op) => s + (op.type === 'add' ? op.length : 0), 0);
    expect(addBytes).toBeGreaterThan(100_000);
    expect(announced).toBe(addBytes);
    expect(order[0]).toBe('announce');
    expect(order.filter((x) => x === 'announce').length).toBeGreaterThan(1); // one per frame with adds
    let calls = 0;
    const plain = concat(prng(10_000, 11), basis.subarray(0, 100_000));
    expect(Buffer.compare(patch(basis, diff(basis, plain, { approximate: false }), { beforeJavaScriptWork: (kind) => void (kind === 'add' && calls++) }), plain)).toBe(0);
    expect(calls).toBe(0);
  });

  it("node:zlib's CRC-32 (frame checks at the Node edges) is the core's, chunk by chunk", () => {
    expect(nodeRawDeflate.crc32).toBeTypeOf('function'); // Node 20.15 or later, as CI runs
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(nodeRawDeflate.crc32!(a, 0)).toBe(crc32(a));
        expect(nodeRawDeflate.crc32!(b, nodeRawDeflate.crc32!(a, 0))).toBe(crc32(concat(a, b)));
      }),
    );
  });

  it('checks the trailer: frame count, target length, nothing after it', () => {
    const head = prefix();
    const trailer = (len: number, frames: number) => {
      const b = new Uint8Array(50);
      let p = writeVarint(b, 0, len);
      b.set(SHA, p);
      p = writeVarint(b, p + 32, frames);
      return frame(0xff, b.subarray(0, p));
    };
    expect(decode([cat(head, trailer(0, 0))]).ops).toEqual([]);
    expect(codeOf(() => decode([cat(head, trailer(1, 0))]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([cat(head, trailer(0, 1))]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([cat(head, trailer(0, 0), Uint8Array.of(0))]))).toBe('ERR_CORRUPT');
    expect(codeOf(() => decode([cat(valid, valid)]))).toBe('ERR_CORRUPT');
  });

  it('refuses impossible ops: zero length, negative offset, literal bytes that do not add up', () => {
    const head = prefix();
    const raw = (bytes: number[]) => frame(1, Uint8Array.of(0, ...bytes)); // codec 0: stored
    expect(codeOf(() => decode([cat(head, raw([1, 1, 0]))]))).toBe('ERR_CORRUPT'); // copy of length 0
    expect(codeOf(() => decode([cat(head, raw([1, 5, 1]))]))).toBe('ERR_CORRUPT'); // copy at offset -1
    expect(codeOf(() => decode([cat(head, raw([1, 8, 9]))]))).toBe('ERR_CORRUPT'); // literal of 2, 1 byte present
    expect(codeOf(() => decode([cat(head, raw([1, 10, 0, 9]))]))).toBe('ERR_CORRUPT'); // add of 2, 1 diff byte present
    expect(codeOf(() => decode([cat(head, raw([1, 6, 1, 9]))]))).toBe('ERR_CORRUPT'); // add at offset -1
    expect(codeOf(() => decode([cat(head, raw([1, 7, 0, 9]))]))).toBe('ERR_CORRUPT'); // unknown op kind 3
    expect(codeOf(() => decode([cat(head, raw([0]))]))).toBe('ERR_CORRUPT'); // no ops
    expect(codeOf(() => decode([cat(head, raw([1, 0x80, 0x00]))]))).toBe('ERR_CORRUPT'); // overlong varint
  });

  it('refuses ADD ops for a sink without add(), before emitting anything of the frame', () => {
    const bytes = encode(sample, { mode: 'diff', codec: 'stored' });
    let ops = 0;
    const dec = new NativeDeltaDecoder({ copy: () => ops++, literal: () => ops++ });
    expect(codeOf(() => dec.push(bytes, true))).toBe('ERR_UNSUPPORTED');
    expect(ops).toBe(0);
  });

  it('cuts a long add across frames like a literal', () => {
    const diff = new Uint8Array(5000).map((_, i) => (i * 31) & 255);
    const ops: Op[] = [{ type: 'add', offset: 7, length: 5000, diff }];
    const bytes = encode(ops, { mode: 'diff', codec: 'stored' }, { frameSize: 1000 });
    let frames = 0;
    const dec = new NativeDeltaDecoder({ copy() {}, literal() {}, add: () => void frames++ });
    dec.push(bytes, true);
    expect(frames).toBeGreaterThanOrEqual(5);
    expect(decode([bytes], { limits: { maxFrameBytes: 1100 } }).ops).toEqual(ops);
  });

  it('writes sectioned frames (codec 2) and refuses tampered sections, CRC fixed, as RolldeltaError', () => {
    const ops: Op[] = [
      { type: 'copy', offset: 0, length: 500 },
      { type: 'literal', data: new Uint8Array(3000).map((_, i) => i % 17) },
      { type: 'add', offset: 600, length: 2000, diff: new Uint8Array(2000).map((_, i) => (i % 50 === 0 ? 3 : 0)) },
    ];
    const bytes = encode(ops, HEADER);
    const at = prefix().length;
    expect(bytes[at + 9]).toBe(2);
    expect(decode([bytes]).ops).toEqual(ops);
    const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at + 1);
    const body = bytes.subarray(at + 9, at + 9 + len);
    const refix = (b: Uint8Array) => cat(bytes.subarray(0, at), frame(1, b), bytes.subarray(at + 9 + len));
    // The first section varint (opsRaw) follows codec and rawLength (2 bytes here).
    const tweak = body.slice();
    tweak[3] += 1;
    expect(codeOf(() => decode([refix(tweak)]))).toBe('ERR_CORRUPT');
    fc.assert(
      fc.property(fc.integer({ min: 3, max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bad = body.slice();
        bad[i] ^= x;
        for (const opsOnly of [false, true]) {
          const code = codeOf(() => decode([refix(bad)], { opsOnly }));
          expect(code === 'no error' || code.startsWith('ERR_')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets only RolldeltaError escape on random bytes after a valid magic or header', () => {
    const head = prefix();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), arbFractions, (junk, afterHeader, fr) => {
        const start = afterHeader ? head : head.subarray(0, 5);
        const code = codeOf(() => decode(cuts(cat(start, junk), fr), { limits: { maxFrameBytes: 4096, maxHeaderBytes: 1024 } }));
        expect(code).not.toBe('no error');
      }),
      { numRuns: 500 },
    );
  });

  it('is dead after an error, while a new instance decodes valid input', () => {
    const dec = new NativeDeltaDecoder(new OpCollector());
    let first: unknown;
    try {
      dec.push(Uint8Array.of(1, 2, 3, 4, 5));
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(RolldeltaError);
    expect(() => dec.push(valid, true)).toThrow(first as Error);
    expect(decode([valid]).ops).toEqual(sample);
  });

  it('the encoder validates its arguments', () => {
    const enc = new NativeDeltaEncoder(HEADER, () => {});
    expect(codeOf(() => enc.copy(-1, 3))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => enc.copy(2 ** 52, 3))).toBe('ERR_INVALID_ARGUMENT');
    enc.copy(0, 3);
    expect(codeOf(() => enc.finish({ targetLength: 4, targetSha256: SHA }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new NativeDeltaEncoder(HEADER, () => {}, { frameSize: 1 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => new NativeDeltaEncoder(HEADER, () => {}, { level: 12 }))).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('two-sided diff: the worst case', () => {
  // When nothing matches, a delta is the target deflated at the same level (by the same DEFLATE)
  // plus the magic, header, trailer and frame heads: at most 128 bytes, and 32 per started MiB.
  // Frames decode on their own, so deflate starts each MiB with an empty window: on compressible
  // content that costs up to 0.26% (measured, level 6); level 9's context mixing is far smaller.
  const bound = (deflated: number, target: number) => deflated * 1.005 + 128 + 32 * Math.ceil(target / (1 << 20));
  const sources = readdirSync(new URL('../../src/format/', import.meta.url)).map((f) => readFileSync(new URL(`../../src/format/${f}`, import.meta.url)));
  const pairs: Array<[string, Uint8Array, Uint8Array]> = [
    ['random vs unrelated random, 3 MiB', prng(3 << 20, 31), prng(3 << 20, 32)],
    ['this repo\'s format sources vs random', prng(1 << 20, 33), concat(...sources)],
    ['random vs those sources', concat(...sources), prng(1 << 20, 34)],
    ['letter soup vs random, 1.25 MiB', prng(1 << 20, 35), prng(5 << 18, 36).map((b) => 97 + (b % 7))],
    ['random vs unrelated random, 8 MiB (the size corpus\'s pair)', prng(1 << 20, 37), prng(8 << 20, 38)],
    ['one byte vs nothing', new Uint8Array(0), Uint8Array.of(7)],
  ];
  it.each(pairs)('%s: no larger than the target deflated, plus a bounded head', (_, basis, target) => {
    for (const rawDeflate of [fflateRawDeflate, nodeRawDeflate]) {
      // Level 9 (context mixing, ~1 MB/s) once: it deflates only to compare.
      for (const level of rawDeflate === fflateRawDeflate ? [1, 6, 9] : [1, 6]) {
        const delta = diff(basis, target, { level, rawDeflate });
        const deflated = rawDeflate.deflate(target, level).length;
        expect(delta.length, `level ${level}`).toBeLessThanOrEqual(bound(deflated, target.length));
        // Incompressible content is stored: 10 bytes of frame head per MiB, not a fraction.
        if (deflated >= target.length) expect(delta.length - target.length, `level ${level}`).toBeLessThanOrEqual(128 + 10 * Math.ceil(target.length / (1 << 20)));
        expect(Buffer.compare(patch(basis, delta, { rawDeflate }), target)).toBe(0);
      }
    }
  });
});
