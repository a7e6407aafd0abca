// gunzipChunks: gzip layers decoded by node:zlib as they arrive, in bounded memory, with a
// RolldeltaError for a damaged or cut stream and the source's own failure passed through.
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { gunzipChunks } from '../../src/image/compression.js';

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

/** `bytes` in pieces of `size`, each a fresh copy. */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

describe('gunzipChunks', () => {
  it('decodes one or several members, whatever the input chunking', async () => {
    const a = randomBytes(300_000);
    const b = Buffer.from('second member '.repeat(20_000));
    const gz = Buffer.concat([gzipSync(a), gzipSync(b)]);
    for (const size of [7, 4096, gz.length]) {
      expect((await collect(gunzipChunks(pieces(gz, size), 'layer'))).equals(Buffer.concat([a, b])), `pieces of ${size}`).toBe(true);
    }
    const small = Buffer.from('a small layer');
    expect((await collect(gunzipChunks(pieces(gzipSync(small), 1), 'layer'))).equals(small)).toBe(true);
  });

  it('asks for the next input only once zlib has consumed the last: a source may reuse one buffer', async () => {
    const data = randomBytes(1 << 20);
    const gz = gzipSync(data);
    async function* reused(): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(8192);
      for (let i = 0; i < gz.length; i += buf.length) {
        const n = Math.min(buf.length, gz.length - i);
        buf.set(gz.subarray(i, i + n));
        yield buf.subarray(0, n);
      }
    }
    expect((await collect(gunzipChunks(reused(), 'layer'))).equals(data)).toBe(true);
  });

  it('a bomb comes out 64 KiB at a time, and a consumer that stops early stops the source', async () => {
    const bomb = gzipSync(Buffer.alloc(256 << 20)); // ~256 KB for 256 MiB of zeros
    let pulled = 0;
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < bomb.length; i += 16384) {
          pulled += 1;
          yield bomb.subarray(i, i + 16384);
        }
      } finally {
        closed = true;
      }
    }
    let out = 0;
    for await (const c of gunzipChunks(source(), 'layer')) {
      expect(c.length).toBeLessThanOrEqual(64 << 10);
      out += c.length;
      if (out >= 8 << 20) break;
    }
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(Math.ceil(bomb.length / 16384)); // it stopped well before the end
  });

  it('a cut stream is ERR_TRUNCATED, a damaged one ERR_CORRUPT, naming the layer', async () => {
    const gz = gzipSync(randomBytes(100_000));
    await expect(collect(gunzipChunks(pieces(gz.subarray(0, gz.length >> 1), 4096), 'layer 7'))).rejects.toMatchObject({ code: 'ERR_TRUNCATED', message: expect.stringContaining('layer 7') });
    const bad = Buffer.from(gz);
    bad[3] = 0xe0; // reserved flag bits set: zlib refuses the header
    await expect(collect(gunzipChunks(pieces(bad, 4096), 'layer 8'))).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringContaining('layer 8') });
  });

  it('hostile input (bit flips, cuts, junk appended) ends in the bytes or a RolldeltaError, never another failure', async () => {
    const gz = gzipSync(Buffer.from('layer contents, a tar in real life; '.repeat(2000)));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(gz.length - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }), fc.nat(gz.length), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 5000 }), async (flips, cut, junk, size) => {
        const bytes = Buffer.concat([gz.subarray(0, cut), junk]);
        for (const [at, x] of flips) if (at < bytes.length) bytes[at] ^= x;
        try {
          await collect(gunzipChunks(pieces(bytes, size), 'layer'));
        } catch (e) {
          expect(isRolldeltaError(e) && ['ERR_CORRUPT', 'ERR_TRUNCATED'].includes(e.code), String(e)).toBe(true);
        }
      }),
      { numRuns: 300, seed: 20261123 },
    );
  });

  it("passes the source's own failure through as it is", async () => {
    const gz = gzipSync(randomBytes(100_000));
    const failure = new Error('disk gone');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield gz.subarray(0, 1000);
      throw failure;
    }
    await expect(collect(gunzipChunks(failing(), 'layer'))).rejects.toBe(failure);
  });
});
