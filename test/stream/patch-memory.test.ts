// Patch holds one frame of the delta at a time, however many frames a few KiB of delta pack
// (measured: ~6.4 MiB of buffers for both paths below, 100 and 30 MiB before):
// 64 MiB of zeros diff to ~68 KB, 64 frames of 1 MiB that deflate ~1000x. Before, the op queue
// (patchChunks) and the per-read op batches (patchInPlace) held every frame of a 64 KiB slice or a
// 1 MiB read at once, and node:zlib's fresh output per frame piled up for the collector.
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diff } from '../../src/format/operations.js';
import { patchChunks } from '../../src/stream/patch-stream.js';
import { patchInPlace } from '../../src/stream/patch-in-place.js';
import { prng } from '../core/_diff-helpers.js';
import { peakRssMiB } from '../helpers/peak-rss.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-patchmem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1 << 20;
const basis = prng(4096, 9);
const delta = diff(basis, new Uint8Array(64 * MiB));

/** Peak growth of ArrayBuffer memory while `run` goes, sampled every few milliseconds and by `probe`. */
async function peakBuffers(run: (probe: () => void) => Promise<void>): Promise<number> {
  const before = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const probe = () => void (peak = Math.max(peak, process.memoryUsage().arrayBuffers - before));
  const timer = setInterval(probe, 2);
  try {
    await run(probe);
  } finally {
    clearInterval(timer);
  }
  return peak;
}

describe('patch memory with frames that inflate ~1000x', () => {
  it('the delta is small and packs many frames', () => {
    expect(delta.length).toBeLessThan(128 << 10);
  });

  it('patchChunks (three reused output chunks) stays within a few frames of buffers', async () => {
    let n = 0;
    let nonZero = 0;
    const peak = await peakBuffers(async (probe) => {
      for await (const c of patchChunks(basis, [delta], {}, 3)) {
        n += c.length;
        for (let i = 0; i < c.length; i += 4093) nonZero |= c[i]!;
        probe();
      }
    });
    expect(n).toBe(64 * MiB);
    expect(nonZero).toBe(0);
    expect(peak, `peak ${peak}`).toBeLessThan(16 * MiB);
  });

  it('patchInPlace stays within a few frames of buffers', async () => {
    const f = join(dir, 'f');
    const d = join(dir, 'd');
    writeFileSync(f, basis);
    writeFileSync(d, delta);
    const peak = await peakBuffers(async () => void (await patchInPlace(f, d)));
    const out = readFileSync(f);
    expect(out.length).toBe(64 * MiB);
    expect(out.every((b) => b === 0)).toBe(true);
    expect(peak, `peak ${peak}`).toBeLessThan(16 * MiB);
  });
});

describe('signature memory', () => {
  it('a file signed on one thread is read through reused buffers, not 1 MiB fresh per read', async () => {
    // Fresh reads piled up for the collector: the CLI's signature of a 256 MB file peaked at 318 MB RSS (61 now).
    const f = join(dir, 'sig-basis');
    writeFileSync(f, '');
    truncateSync(f, 128 * MiB); // sparse: read back as zeros
    const peak = await peakRssMiB(`const { signatureFile } = await import(dist);
      await signatureFile(${JSON.stringify(f)}, ${JSON.stringify(join(dir, 'sig'))}, { workers: 1 });`);
    expect(peak).toBeLessThan(80); // 93 MiB before, 61 now
  });
});
