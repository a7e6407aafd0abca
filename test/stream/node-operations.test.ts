import { describe, expect, it } from 'vitest';
import { Sha256 } from '../../src/core/sha256.js';
import * as anywhere from '../../src/format/operations.js';
import { buildSignatureOf, delta, diff, diffChunks, patch, signature, deltaChunks, signatureChunks, type HasherFactory } from '../../src/index.js';
import * as onNode from '../../src/stream/node-operations.js';
import { nodeRawDeflate } from '../../src/stream/node-raw-deflate.js';

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

describe("the package entry's one-shot operations (node:crypto and node:zlib injected)", () => {
  // Text-like bytes (literals deflate to something), edited in a few places.
  const basis = new Uint8Array(3 << 20);
  for (let i = 0; i < basis.length; i++) basis[i] = 97 + ((i * 7 + (i >> 9)) % 23);
  const target = basis.slice();
  for (let i = 5000; i < target.length; i += 300_001) target.set(new TextEncoder().encode(`edited at ${i}, `.repeat(40)), i);

  it('make the deltas and signatures the streams make, and patch them back', async () => {
    const d = diff(basis, target);
    expect(Buffer.compare(d, await collect(diffChunks(basis, [target])))).toBe(0);
    // The format layer's own deflate (fflate) packs the literals into other bytes.
    expect(Buffer.compare(d, anywhere.diff(basis, target))).not.toBe(0);
    const sig = signature(basis);
    expect(Buffer.compare(sig, await collect(signatureChunks([basis], { size: basis.length })))).toBe(0);
    const r = delta(sig, target);
    expect(Buffer.compare(r, await collect(deltaChunks(sig, [target])))).toBe(0);
    expect(Buffer.compare(patch(basis, d), target)).toBe(0);
    expect(Buffer.compare(patch(basis, r), target)).toBe(0);
  });

  it('are the Node ones, buildSignatureOf too, and agree with the fallbacks on what they compute', () => {
    for (const [name, f] of Object.entries({ signature, buildSignatureOf, delta, diff, patch })) {
      expect(f, name).toBe(onNode[name as keyof typeof onNode]);
    }
    const fast = buildSignatureOf(basis);
    const fallback = anywhere.buildSignatureOf(basis);
    expect(Buffer.compare(fast.strong, fallback.strong)).toBe(0);
    expect(Buffer.compare(fast.basisSha256!, fallback.basisSha256!)).toBe(0);
  });

  it("keep the caller's own SHA-256 and DEFLATE", () => {
    let made = 0;
    const counting: HasherFactory = () => {
      made++;
      return new Sha256();
    };
    const d = diff(basis, target, { sha256: counting, rawDeflate: nodeRawDeflate });
    expect(made).toBeGreaterThan(0);
    made = 0;
    expect(Buffer.compare(patch(basis, d, { sha256: counting }), target)).toBe(0);
    expect(made).toBeGreaterThan(0);
  });
});
