// Below level 9 the Node edge packs frames in libuv's thread pool (nodeRawDeflate.deflateAsync):
// the bytes must be exactly those of packing in line, and a failure must reach the caller.
import { describe, expect, it } from 'vitest';
import { diff, delta, signature } from '../../src/format/operations.js';
import type { RawDeflate } from '../../src/format/raw-deflate.js';
import { deltaChunks } from '../../src/stream/delta-stream.js';
import { diffChunks } from '../../src/stream/diff-stream.js';
import { nodeRawDeflate } from '../../src/stream/node-raw-deflate.js';
import { nodeSha256 } from '../../src/stream/node-sha256.js';
import { concat, prng } from '../core/_diff-helpers.js';

const MiB = 1 << 20;
const inLine: RawDeflate = { deflate: nodeRawDeflate.deflate, inflate: nodeRawDeflate.inflate };
const text = (n: number, seed: number) => prng(n, seed).map((b) => 97 + (b % 7)); // compressible

// Several frames of literals (compressible and not), copies and short edits, pushed in odd chunks.
const basis = concat(prng(3 * MiB, 1), text(MiB, 2));
const target = concat(text(1500_000, 3), basis.subarray(MiB, 3 * MiB), prng(700_000, 4), basis.subarray(0, 300_000), text(900_000, 5));
for (let i = 2 * MiB; i < 3 * MiB; i += 4099) target[i] ^= 1;
const pieces = (b: Uint8Array) => Array.from({ length: Math.ceil(b.length / 300_001) }, (_, k) => b.subarray(k * 300_001, (k + 1) * 300_001));

async function all(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concat(...parts);
}

describe('frames packed in the background', () => {
  it('a two-sided diff is byte-identical to packing in line, at levels 1 and 6', async () => {
    for (const level of [1, 6]) {
      const streamed = await all(diffChunks(basis, pieces(target), { level }));
      expect(Buffer.compare(streamed, diff(basis, target, { level, rawDeflate: inLine, sha256: nodeSha256 }))).toBe(0);
    }
  });

  it('an rsync-mode delta is byte-identical to packing in line', async () => {
    const sig = signature(basis, { blockLength: 4096 });
    const streamed = await all(deltaChunks(sig, pieces(target)));
    expect(Buffer.compare(streamed, delta(sig, target, { rawDeflate: inLine, sha256: nodeSha256 }))).toBe(0);
  });

  it('a packing failure rejects the stream', async () => {
    const failing: RawDeflate = { ...inLine, deflateAsync: () => Promise.reject(new Error('disk on fire')) };
    await expect(all(diffChunks(basis, pieces(target), { rawDeflate: failing }))).rejects.toThrow('disk on fire');
  });
});
