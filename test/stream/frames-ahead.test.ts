// Patching with `workers`: context-mixed (level 9) frames unpacked by worker threads ahead of the
// patch (src/stream/_frames-ahead.ts). Real worker threads, real deltas; the laws: the same target
// and the same ops whatever the chunking, every frame worth a thread unpacked by one, and a damaged
// or cut delta refused with the code the one-thread patch gives.
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpCollector, type Op } from '../../src/core/ops.js';
import { CODEC_SECTIONS_CM, CODEC_STORED, FRAME_HEAD, FRAME_OPS } from '../../src/format/native-codes.js';
import { NativeDeltaDecoder } from '../../src/format/native-delta-decoder.js';
import { diff, delta, FrameScanner, patchChunks, signature } from '../../src/index.js';
import { unpackFramesAhead } from '../../src/stream/_frames-ahead.js';
import { prng } from '../core/_diff-helpers.js';
import { rejectionCode } from '../format/_helpers.js';
import { collect, cutAt } from '../helpers/chunking.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Text-like new content (words of a small vocabulary): context mixing codes it, unlike random bytes. */
function words(n: number, seed: number): Uint8Array {
  const vocab = 'delta basis frame layer image patch context mixing worker thread order column tar header file'.split(' ');
  let s = seed >>> 0 || 1;
  let text = '';
  while (text.length < n) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    text += vocab[(s >>> 16) % vocab.length] + ((s & 7) === 0 ? '.\n' : ' ');
  }
  return new TextEncoder().encode(text.slice(0, n));
}

/** A basis, and a target keeping parts of it around 600 KB of new text: five level 9 frames of 128 KiB. */
function fixture(): { basis: Uint8Array; target: Uint8Array; delta: Uint8Array } {
  const basis = prng(200_000, 3);
  const target = Buffer.concat([basis.subarray(0, 50_000), words(300_000, 7), basis.subarray(100_000, 150_000), words(300_000, 9)]);
  return { basis, target, delta: diff(basis, target, { level: 9, frameSize: 128 << 10 }) };
}

let f: ReturnType<typeof fixture>;
beforeAll(async () => {
  await ensureBuilt(); // the worker threads run dist/worker.mjs
  f = fixture();
}, 120_000);

async function* chunksOf(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

/** The codec of each ops frame of a native delta, in order. */
function frameCodecs(d: Uint8Array): number[] {
  const heads: number[] = [];
  new FrameScanner({ onFrameHead: (at) => heads.push(at) }).push(d);
  return heads.filter((at) => d[at] === FRAME_OPS).map((at) => d[at + FRAME_HEAD]!);
}

/** A digest of a native delta's ops (kinds, offsets, lengths, bytes): a failure prints two digests, not two op lists. */
function opsOf(d: Uint8Array): string {
  const c = new OpCollector();
  new NativeDeltaDecoder(c).push(d, true);
  const h = createHash('sha256');
  for (const op of c.finish() as Op[]) {
    h.update(JSON.stringify({ ...op, data: undefined, diff: undefined }));
    if ('data' in op) h.update(op.data);
    if ('diff' in op) h.update(op.diff);
  }
  return h.digest('hex');
}

/** The SHA-256 of what the patch writes (a failure prints digests, not megabytes). */
async function patched(basis: Uint8Array, d: Uint8Array | Uint8Array[], workers: number): Promise<string> {
  return sha(await collect(patchChunks(basis, chunksOf(Array.isArray(d) ? d : [d]), { workers })));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('unpacking level 9 frames ahead on worker threads', () => {
  it('hands on the same ops, every frame worth a thread stored, whatever the chunking', async () => {
    const codecs = frameCodecs(f.delta);
    expect(codecs.filter((c) => c === CODEC_SECTIONS_CM).length).toBeGreaterThanOrEqual(4);
    const want = opsOf(f.delta);
    const n = f.delta.length;
    for (const cuts of [[], [5, 6, 7], [9, 13, 200, 4096, n - 1], Array.from({ length: 40 }, (_, i) => Math.floor((i * n) / 40) + 3)]) {
      const out = await collect(unpackFramesAhead(chunksOf(cutAt(f.delta, cuts)), { threads: 2 }));
      expect(frameCodecs(out).map((c) => (c === CODEC_STORED ? 'stored' : c)), `cuts ${cuts.join(',')}`).toEqual(codecs.map((c) => (c === CODEC_SECTIONS_CM ? 'stored' : c)));
      expect(opsOf(out)).toBe(want);
    }
  });

  it('patches to the same target as one thread, with 2 and 3 threads', async () => {
    expect(await patched(f.basis, f.delta, 1)).toBe(sha(f.target));
    for (const workers of [2, 3]) expect(await patched(f.basis, cutAt(f.delta, [100, 70_000]), workers)).toBe(sha(f.target));
  });

  it('passes on unchanged a delta of one frame worth a thread, a level 6 delta and an rdiff delta', async () => {
    const one = diff(f.basis, f.target.subarray(0, 200_000), { level: 9 });
    expect(frameCodecs(one)).toContain(CODEC_SECTIONS_CM);
    const six = diff(f.basis, f.target, { level: 6, frameSize: 128 << 10 });
    const rdiff = delta(signature(f.basis, { format: 'rdiff' }), f.target);
    for (const d of [one, six, rdiff]) expect(sha(await collect(unpackFramesAhead(chunksOf(cutAt(d, [3, 700])), { threads: 2 })))).toBe(sha(d));
    expect(await patched(f.basis, rdiff, 2)).toBe(sha(f.target));
  });

  it('refuses a cut, damaged or hostile delta with the one-thread patch\'s code, and never hangs', async () => {
    const d = f.delta;
    const cmAt: number[] = [];
    new FrameScanner({ onFrameHead: (at) => d[at] === FRAME_OPS && d[at + FRAME_HEAD] === CODEC_SECTIONS_CM && cmAt.push(at) }).push(d);
    const flipped = (at: number): Uint8Array => {
      const b = Uint8Array.from(d);
      b[at] ^= 0x20;
      return b;
    };
    const hugeFrame = Uint8Array.from(d);
    hugeFrame.set([0x7f, 0xff, 0xff, 0xff], cmAt[2]! + 1); // a frame length of 2 GiB
    const cases: Array<[string, Uint8Array]> = [
      ['cut in the header', d.subarray(0, 12)],
      ['cut in the third frame', d.subarray(0, cmAt[2]! + 5000)],
      ['cut after the last frame', d.subarray(0, d.length - 20)],
      ['a bit flipped in the third frame', flipped(cmAt[2]! + 3000)],
      ['a bit flipped in the first frame', flipped(cmAt[0]! + FRAME_HEAD + 40)],
      ['a frame length of 2 GiB', hugeFrame],
      ['bytes after the trailer', Buffer.concat([d, Uint8Array.of(1, 2, 3)])],
    ];
    for (const [what, bad] of cases) {
      const one = await rejectionCode(patched(f.basis, bad, 1));
      expect(one, what).not.toBe('no error');
      expect(await rejectionCode(patched(f.basis, cutAt(bad, [bad.length >> 1]), 2)), what).toBe(one);
    }
  });

  it('ends like the one-thread patch on any cut or changed byte: the same target, or the same error code', async () => {
    const small = Buffer.concat([f.basis.subarray(0, 20_000), words(140_000, 21)]);
    const d = diff(f.basis, small, { level: 9, frameSize: 70_000 });
    expect(frameCodecs(d).filter((c) => c === CODEC_SECTIONS_CM).length).toBeGreaterThanOrEqual(2);
    expect(frameCodecs(await collect(unpackFramesAhead(chunksOf([d]), { threads: 2 })))).toContain(CODEC_STORED); // threads at work
    await fc.assert(
      fc.asyncProperty(fc.nat(d.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, xor, cut) => {
        const bad = cut ? d.subarray(0, at) : Uint8Array.from(d);
        if (!cut) bad[at] ^= xor;
        const one = await rejectionCode(patched(f.basis, bad, 1));
        expect(await rejectionCode(patched(f.basis, cutAt(bad, [at >> 1, at + 3]), 2))).toBe(one);
      }),
      { numRuns: 20 },
    );
  });

  it('takes no more frames than the threads have room for, however many frames one chunk holds', async () => {
    let taken = 0;
    const out = unpackFramesAhead(chunksOf([f.delta]), { threads: 2, beforeJavaScriptWork: (kind) => void (kind === 'context-mixing' && taken++) });
    await out.next(); // the magic, once the first frames are out
    expect(taken).toBeLessThanOrEqual(2);
    const rest = await collect(out);
    expect(taken).toBe(frameCodecs(f.delta).filter((c) => c === CODEC_SECTIONS_CM).length);
    expect(rest.length).toBeGreaterThan(0);
  });

  it('stops at an abort while frames are out on the threads (ERR_ABORTED)', async () => {
    const ac = new AbortController();
    const run = (async () => {
      for await (const _ of unpackFramesAhead(chunksOf([f.delta]), { threads: 2, signal: ac.signal })) ac.abort();
    })();
    expect(await rejectionCode(run)).toBe('ERR_ABORTED');
  });

  it('rolldelta patch --workers 2 writes the target', () => {
    const basisPath = join(dir, 'basis');
    const deltaPath = join(dir, 'delta');
    writeFileSync(basisPath, f.basis);
    writeFileSync(deltaPath, f.delta);
    const r = runCli(['patch', '--workers', '2', basisPath, deltaPath, join(dir, 'out')]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(sha(readFileSync(join(dir, 'out')))).toBe(sha(f.target));
  });
});
