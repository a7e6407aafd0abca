import { describe, expect, it } from 'vitest';
import { decodeSignature, signature } from '../../src/index.js';
import { signatureChunks } from '../../src/stream/signature-stream.js';

describe('streamed signatures with the sha256 strong hash', () => {
  it('a streamed native signature (node:crypto) equals the in-memory one (pure TS), byte for byte', async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 13);
    const chunks: Uint8Array[] = [];
    for await (const c of signatureChunks([data.subarray(0, 12345), data.subarray(12345)], { size: data.length })) chunks.push(c);
    expect(Buffer.concat(chunks).equals(signature(data))).toBe(true);
    expect(decodeSignature(Buffer.concat(chunks)).hash).toBe('sha256');
  });

  it("keep rdiff's BLAKE2b for the rdiff format", async () => {
    const chunks: Uint8Array[] = [];
    for await (const c of signatureChunks([new Uint8Array(5000).fill(3)], { format: 'rdiff' })) chunks.push(c);
    expect(decodeSignature(Buffer.concat(chunks)).hash).toBe('blake2b');
  });
});
