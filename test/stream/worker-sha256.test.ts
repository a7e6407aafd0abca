// The target's SHA-256 hashed in a worker thread (a diff on more than one thread): the digest must
// be node:crypto's for any bytes and any way of handing them over, several streams may share the
// worker, and a failure must reach the caller. The worker runs the built dist/worker.mjs.
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackgroundHasher } from '../../src/core/hash.js';
import { diffChunks, patch } from '../../src/index.js';
import { WorkerPool } from '../../src/stream/worker-pool.js';
import { WorkerSha256 } from '../../src/stream/worker-sha256.js';
import { concat, prng } from '../core/_diff-helpers.js';
import { collect } from '../helpers/chunking.js';
import { ensureBuilt } from '../helpers/cli.js';

const MiB = 1 << 20;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let pool: WorkerPool;
beforeAll(() => {
  ensureBuilt();
  pool = new WorkerPool(1);
}, 120_000);
afterAll(() => pool.close());

/** Hands `data` over in pieces of the given lengths (cycled), waiting now and then as a producer does. */
async function hashInPieces(h: BackgroundHasher, data: Uint8Array, lengths: number[]): Promise<Uint8Array> {
  for (let at = 0, k = 0; at < data.length; k++) {
    const n = Math.min(data.length - at, lengths[k % lengths.length]!);
    const piece = data.slice(at, at + n);
    h.update(piece);
    piece.fill(0xee); // handed over means copied: the caller may reuse its buffer at once
    at += n;
    if (k % 3 === 2) await h.caughtUp(2 * MiB);
  }
  return h.digest();
}

describe('WorkerSha256', () => {
  it('is the SHA-256 of the bytes at every size around its 1 MiB slabs, however they are handed over', async () => {
    const data = prng(3 * MiB + 12345, 1);
    for (const n of [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB, data.length]) {
      for (const lengths of [[n || 1], [1000, 77_777, 3 * MiB], [MiB]]) {
        const got = await hashInPieces(new WorkerSha256(pool), data.subarray(0, n), lengths);
        expect(hex(got), `${n} bytes in pieces of ${lengths.join(', ')}`).toBe(sha256(data.subarray(0, n)));
      }
    }
  });

  it('for any bytes and pieces (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 5 }), async (data, lengths) => {
        expect(hex(await hashInPieces(new WorkerSha256(pool), data, lengths))).toBe(sha256(data));
      }),
      { numRuns: 50 },
    );
  });

  it('keeps several streams apart on one worker', async () => {
    const a = prng(2 * MiB + 5, 2);
    const b = prng(MiB + 7, 3);
    const ha = new WorkerSha256(pool);
    const hb = new WorkerSha256(pool);
    for (let at = 0; at < a.length; at += 300_000) {
      ha.update(a.subarray(at, at + 300_000));
      hb.update(b.subarray(at >> 1, (at + 300_000) >> 1));
    }
    const [da, db] = await Promise.all([ha.digest(), hb.digest()]);
    expect(hex(da)).toBe(sha256(a));
    expect(hex(db)).toBe(sha256(b.subarray(0, Math.ceil(a.length / 300_000) * 150_000)));
  });

  it('refuses more bytes after its digest, and a pool of more than one worker', async () => {
    const h = new WorkerSha256(pool);
    h.update(prng(10, 4));
    await h.digest();
    expect(() => h.update(prng(10, 5))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    await expect(h.digest()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const two = new WorkerPool(2);
    try {
      expect(() => new WorkerSha256(two)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    } finally {
      await two.close();
    }
  });

  it('fails its waits and its digest with the pool\'s error when the pool stops midway', async () => {
    const own = new WorkerPool(1);
    const h = new WorkerSha256(own);
    h.update(prng(5 * MiB, 6)); // five slabs handed over
    await own.close();
    await expect(h.caughtUp(0)).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(h.digest()).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('a diff whose target is hashed elsewhere', () => {
  const basis = prng(2 * MiB, 7);
  const target = concat(basis.subarray(MiB), prng(300_000, 8), basis.subarray(0, MiB));
  const chunks = [target.subarray(0, 700_000), target.subarray(700_000)];

  it('on two threads writes the delta one thread writes, its trailer hashed by the worker', async () => {
    const one = await collect(diffChunks(basis, chunks));
    // A large target's size (a hint, as for progress) is what sends its hash to a worker.
    const digests = vi.spyOn(WorkerSha256.prototype, 'digest');
    let two: Uint8Array;
    try {
      expect(Buffer.from(await collect(diffChunks(basis, chunks, { workers: 2 }))).equals(Buffer.from(one))).toBe(true);
      expect(digests).not.toHaveBeenCalled();
      two = await collect(diffChunks(basis, chunks, { workers: 2, size: 128 << 20 }));
      expect(digests).toHaveBeenCalledTimes(1);
    } finally {
      digests.mockRestore();
    }
    expect(Buffer.from(two).equals(Buffer.from(one))).toBe(true);
    // Buffer.equals: vitest's deep equality walks a 2 MiB array element by element.
    expect(Buffer.from(patch(basis, two)).equals(target)).toBe(true);
  });

  it('puts the background digest in the trailer: a wrong one fails the patch', async () => {
    const wrong: BackgroundHasher = { update: () => {}, caughtUp: async () => {}, digest: async () => new Uint8Array(32) };
    const d = await collect(diffChunks(basis, chunks, { backgroundSha256: () => wrong }));
    expect(() => patch(basis, d)).toThrow(expect.objectContaining({ code: 'ERR_CHECKSUM' }));
  });

  it('stops on an abort while slabs are in flight: ERR_ABORTED, and nothing unhandled', async () => {
    const ac = new AbortController();
    const big = prng(6 * MiB, 9);
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < big.length; at += MiB) {
        if (at === 3 * MiB) ac.abort();
        yield big.subarray(at, at + MiB);
      }
    }
    const got = collect(diffChunks(basis, source(), { workers: 2, size: 128 << 20, signal: ac.signal }));
    await expect(got).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('fails with the hasher\'s error, as a rejection of the stream and never an unhandled one', async () => {
    for (const failing of [
      { update: () => {}, caughtUp: async () => {}, digest: () => Promise.reject(new Error('digest gone')) },
      { update: () => {}, caughtUp: () => Promise.reject(new Error('digest gone')), digest: async () => new Uint8Array(32) },
    ] satisfies BackgroundHasher[]) {
      await expect(collect(diffChunks(basis, chunks, { backgroundSha256: () => failing }))).rejects.toThrow('digest gone');
    }
  });
});
