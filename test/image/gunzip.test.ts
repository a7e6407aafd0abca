// gunzipChunks: gzip layers decoded by node:zlib as they arrive, in bounded memory, with a
// RolldeltaError for a damaged or cut stream and the source's own failure passed through.
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { gunzipChunks } from '../../src/image/compression.js';
import { collect, decoderContract, pieces } from '../helpers/decoder-contract.js';

describe('gunzipChunks', () => {
  decoderContract(gunzipChunks, (b) => gzipSync(b), { maxChunk: 64 << 10, bombPiece: 16384 });

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
});
