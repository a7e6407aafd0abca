// The laws of the delta server's check of what it sends (SentDeltaCheck): a sound delta's bytes
// pass unchanged for any range and any chunking of the file's reads, and a whole answer whose
// bytes changed since the stored check never goes out complete.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SentDeltaCheck } from '../../src/docker/_sent-delta-check.js';
import { ScanningSha256, type StoredDeltaCheck } from '../../src/docker/_stored-delta-check.js';
import { diff } from '../../src/format/operations.js';
import { prng } from '../core/_diff-helpers.js';

// Over 256 KiB of small frames: the stored check keeps frame heads to start ranges from.
const basis = prng(64 << 10, 1);
const delta = diff(basis, prng(640 << 10, 2), { level: 0, frameSize: 16 << 10 });

function storedCheckOf(bytes: Uint8Array): StoredDeltaCheck {
  const h = new ScanningSha256();
  h.update(bytes);
  return h.result(bytes.length);
}
const stored = storedCheckOf(delta);

/** Sends bytes `first` to `stop` of `file` as the server does: read from `readFrom` to `stop` in chunks of `sizes` (cycled). */
async function send(file: Uint8Array, first: number, stop: number, sizes: number[]): Promise<{ out: Buffer; damage: string | undefined }> {
  const check = new SentDeltaCheck(stored, first, stop, file.length);
  const chunks: Buffer[] = [];
  for (let at = check.readFrom, i = 0; at < stop; i++) {
    const n = Math.min(sizes[i % sizes.length]!, stop - at);
    chunks.push(Buffer.from(file.subarray(at, at + n)));
    at += n;
  }
  const out: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => void (out.push(c), done()) });
  await pipeline(Readable.from(chunks), check, sink).catch(() => {});
  return { out: Buffer.concat(out), damage: check.damage };
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 });

describe('SentDeltaCheck', () => {
  it('the stored check keeps frame heads to start ranges from', () => {
    expect(stored.framed).toBe(true);
    expect(stored.frameStarts.length).toBeGreaterThanOrEqual(2);
    expect(stored.damage).toBeUndefined();
  });

  it('passes a sound delta\'s bytes unchanged, whole or any range, however its reads are cut', async () => {
    const range = fc.tuple(fc.nat({ max: delta.length - 1 }), fc.nat({ max: delta.length - 1 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b) + 1] as const);
    await fc.assert(
      fc.asyncProperty(fc.oneof(range, fc.constant([0, delta.length] as const)), chunkSizes, async ([first, stop], sizes) => {
        const { out, damage } = await send(delta, first, stop, sizes);
        expect(damage).toBeUndefined();
        expect(out.equals(Buffer.from(delta.subarray(first, stop)))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('never sends a whole delta complete when any byte of it changed since the stored check', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: delta.length - 1 }), fc.integer({ min: 1, max: 255 }), chunkSizes, async (at, flip, sizes) => {
        const rotten = Uint8Array.from(delta);
        rotten[at]! ^= flip;
        const { out, damage } = await send(rotten, 0, delta.length, sizes);
        expect(damage).toBeDefined();
        expect(out.length).toBeLessThan(delta.length);
      }),
      { numRuns: 150 },
    );
  });
});
