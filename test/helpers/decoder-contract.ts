// The contract every layer decoder (gunzipChunks, unzstdChunks) keeps with its source and its
// consumer, as tests: one suite, run against each decoder from its own test file.
import { expect, it } from 'vitest';

type Decoder = (source: AsyncIterable<Uint8Array>, what: string) => AsyncIterable<Uint8Array>;

/** Collects a decoder's output into one buffer. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

/** `bytes` in pieces of `size`, each a fresh copy. */
export async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

/**
 * Defines the contract's tests, inside the caller's describe: `encode` compresses, `maxChunk` is
 * the most a decoder yields at once, `bombPiece` the input chunk size fed to a 256 MiB bomb.
 * @example
 * describe('gunzipChunks', () => { decoderContract(gunzipChunks, (b) => gzipSync(b), { maxChunk: 64 << 10, bombPiece: 16384 }); });
 */
export function decoderContract(decode: Decoder, encode: (data: Uint8Array) => Uint8Array, { maxChunk, bombPiece }: { maxChunk: number; bombPiece: number }): void {
  it('asks for the next input only once the last is consumed: a source may reuse one buffer', async () => {
    const data = Buffer.concat([Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join('')), crypto.getRandomValues(new Uint8Array(65536))]);
    const z = encode(data);
    async function* reused(): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(8192);
      for (let i = 0; i < z.length; i += buf.length) {
        const n = Math.min(buf.length, z.length - i);
        buf.set(z.subarray(i, i + n));
        yield buf.subarray(0, n);
      }
    }
    expect((await collect(decode(reused(), 'layer'))).equals(data)).toBe(true);
  });

  it(`a bomb comes out ${maxChunk >> 10} KiB at a time, and a consumer that stops early stops the source`, async () => {
    const bomb = encode(new Uint8Array(256 << 20));
    let pulled = 0;
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < bomb.length; i += bombPiece) {
          pulled += 1;
          yield bomb.subarray(i, i + bombPiece);
        }
      } finally {
        closed = true;
      }
    }
    let out = 0;
    for await (const c of decode(source(), 'layer')) {
      expect(c.length).toBeLessThanOrEqual(maxChunk);
      out += c.length;
      if (out >= 8 << 20) break;
    }
    expect(closed).toBe(true);
    expect(pulled).toBeLessThan(Math.ceil(bomb.length / bombPiece)); // it stopped well before the end
  }, 30_000);

  it("passes the source's own failure through as it is", async () => {
    const z = encode(crypto.getRandomValues(new Uint8Array(65536)));
    const failure = new Error('disk gone');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield z.subarray(0, 1000);
      throw failure;
    }
    await expect(collect(decode(failing(), 'layer'))).rejects.toBe(failure);
  });
}
