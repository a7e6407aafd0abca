import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileBasis,
  RolldeltaError,
  createDeltaStream,
  createDiffStream,
  createPatchStream,
  createSignatureStream,
  deltaChunks,
  deltaFile,
  diff,
  diffChunks,
  diffFile,
  patchChunks,
  patchFile,
  ReadRing,
  signature,
  signatureChunks,
  signatureFile,
} from '../../src/index.js';
import { arbCuts, arbPair, collect, cutByFractions } from '../helpers/chunking.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('streaming law: patch(basis, delta(sig(basis), target)) == target for any chunking', () => {
  it('rsync mode, both formats, any block length', async () => {
    await fc.assert(
      fc.asyncProperty(arbPair, arbCuts, arbCuts, fc.integer({ min: 1, max: 300 }), fc.constantFrom('native', 'rdiff'), async ({ basis, target }, c1, c2, blockLength, format) => {
        const sig = await collect(signatureChunks(cutByFractions(basis, c1), { blockLength, format: format as 'native' | 'rdiff' }));
        const d = await collect(deltaChunks(sig, cutByFractions(target, c2), { format: format as 'native' | 'rdiff' }));
        const out = await collect(patchChunks(basis, cutByFractions(d, c1)));
        expect(Buffer.compare(out, target)).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('two-sided diff', async () => {
    await fc.assert(
      fc.asyncProperty(arbPair, arbCuts, arbCuts, async ({ basis, target }, c1, c2) => {
        const d = await collect(diffChunks(basis, cutByFractions(target, c1)));
        expect(Buffer.compare(d, diff(basis, target))).toBe(0);
        const out = await collect(patchChunks(basis, cutByFractions(d, c2)));
        expect(Buffer.compare(out, target)).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('patchChunks through a ring of buffers other streams used first', () => {
  const MiB = 1 << 20;
  const basis = new Uint8Array(3 * MiB).map((_, i) => (i * 2654435761) >>> 24);
  const target = new Uint8Array(5 * MiB + 123).map((_, i) => (i % 4099 === 0 ? 7 : basis[i % basis.length]!));
  const delta = diff(basis, target);

  it("writes every chunk into the ring's buffers, the target whole", async () => {
    const ring = new ReadRing(MiB);
    const block = ring.block();
    const copied: Uint8Array[] = [];
    for await (const c of patchChunks(basis, [delta], {}, ring)) {
      // Every chunk is one of the ring's four quarters (the last one's start).
      expect(c.buffer).toBe(block.buffer);
      expect(c.byteOffset % MiB).toBe(0);
      copied.push(c.slice());
    }
    expect(Buffer.concat(copied).equals(target)).toBe(true);
  });

  it('hashes a basis that offers readInto with one buffer, not a fresh one per MiB', async () => {
    // A fresh 1 MiB per read of the up-front basis check was ~35 MiB of garbage on a 512 MiB file.
    let reads = 0;
    const fileLike = {
      length: basis.length,
      read: (position: number, length: number) => (reads++, basis.slice(position, position + length)),
      readInto: (buf: Uint8Array, offset: number, position: number, length: number) => buf.set(basis.subarray(position, position + length), offset),
    };
    expect(Buffer.from(await collect(patchChunks(fileLike, [delta]))).equals(target)).toBe(true);
    expect(reads).toBe(0);
  });

  it('refuses a ring of another buffer size or of fewer than three buffers, and null', async () => {
    const fewer = { size: MiB, count: 2, take: () => new Uint8Array(MiB) };
    for (const ring of [new ReadRing(4096), fewer, null as unknown as number]) {
      await expect(collect(patchChunks(basis, [delta], {}, ring))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
  });
});

describe('Node streams', () => {
  const basis = new Uint8Array(300_000).map((_, i) => (i * 7919) >>> 3);
  const target = Buffer.concat([basis.subarray(1000), Buffer.from('inserted'), basis.subarray(0, 1000)]);

  it('pipe through createSignatureStream, createDeltaStream and createPatchStream', async () => {
    const sigParts: Buffer[] = [];
    await pipeline(Readable.from([basis]), createSignatureStream(), sink(sigParts));
    const deltaParts: Buffer[] = [];
    await pipeline(Readable.from([target]), createDeltaStream(Buffer.concat(sigParts)), sink(deltaParts));
    const out: Buffer[] = [];
    await pipeline(Readable.from(deltaParts), createPatchStream(basis), sink(out));
    expect(Buffer.concat(out).equals(target)).toBe(true);
    const diffParts: Buffer[] = [];
    await pipeline(Readable.from([target]), createDiffStream(basis), sink(diffParts));
    const out2: Buffer[] = [];
    await pipeline(Readable.from(diffParts), createPatchStream(basis), sink(out2));
    expect(Buffer.concat(out2).equals(target)).toBe(true);
  });

  it('respects backpressure: a tiny delta expanding to 64 MiB is produced as the reader reads', async () => {
    const big = new Uint8Array(64 << 20);
    const d = diff(big, big);
    expect(d.length).toBeLessThan(1000);
    const stream = createPatchStream(big);
    stream.end(d);
    let total = 0;
    let maxBuffered = 0;
    for await (const c of stream) {
      total += c.length;
      maxBuffered = Math.max(maxBuffered, stream.readableLength);
      await new Promise((r) => setImmediate(r));
    }
    expect(total).toBe(big.length);
    expect(maxBuffered).toBeLessThanOrEqual(4 << 20);
  });

  it('an AbortSignal stops the stream with ERR_ABORTED', async () => {
    const ac = new AbortController();
    const s = createSignatureStream({ signal: ac.signal });
    const done = pipeline(
      Readable.from(
        (async function* () {
          for (let i = 0; i < 1000; i++) {
            if (i === 5) ac.abort();
            yield new Uint8Array(65536);
            await new Promise((r) => setImmediate(r));
          }
        })(),
      ),
      s,
      sink([]),
    );
    await expect(done).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('destroy() and pipeline({ signal }) close a stream whose input has stalled', async () => {
    const d = diff(basis, target);
    const sig = signature(basis);
    const makers: Array<[string, () => Duplex, Uint8Array]> = [
      ['patch', () => createPatchStream(basis), d],
      ['signature', () => createSignatureStream(), basis],
      ['delta', () => createDeltaStream(sig), target],
      ['diff', () => createDiffStream(basis), target],
    ];
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still open after 2 s`)), 2000))]);
    for (const [name, make, input] of makers) {
      const s = make();
      s.on('error', () => {});
      s.resume();
      s.write(input.subarray(0, 100)); // a download that then stalls
      await new Promise((r) => setTimeout(r, 20));
      s.destroy(new Error('watchdog'));
      await within(new Promise((r) => s.on('close', r)), `${name} destroy()`);

      const ac = new AbortController();
      const stalled = new Readable({ read() {} });
      stalled.push(input.subarray(0, 100));
      const done = pipeline(stalled, make(), sink([]), { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await expect(within(done, `${name} pipeline`)).rejects.toMatchObject({ name: 'AbortError' });
    }
  });

  it('a delta made for another basis fails before any output', async () => {
    const d = diff(basis, target);
    const other = basis.slice();
    other[5] ^= 1;
    const out: Buffer[] = [];
    await expect(pipeline(Readable.from([d]), createPatchStream(other), sink(out))).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
    expect(out.length).toBe(0);
  });
});

describe('file helpers', () => {
  const basisPath = join(dir, 'basis.bin');
  const targetPath = join(dir, 'target.bin');
  const basis = Buffer.alloc(2_000_000).map((_, i) => (i * 2654435761) >>> 24);
  const target = Buffer.concat([basis.subarray(0, 500_000), Buffer.from('change'), basis.subarray(600_000)]);
  writeFileSync(basisPath, basis);
  writeFileSync(targetPath, target);
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  it('signatureFile, deltaFile and patchFile round-trip; diffFile too', async () => {
    await signatureFile(basisPath, join(dir, 'b.sig'));
    expect(Buffer.compare(readFileSync(join(dir, 'b.sig')), signature(basis))).toBe(0);
    await deltaFile(join(dir, 'b.sig'), targetPath, join(dir, 'd1'));
    await patchFile(basisPath, join(dir, 'd1'), join(dir, 'out1'));
    expect(sha(readFileSync(join(dir, 'out1')))).toBe(sha(target));
    await diffFile(basisPath, targetPath, join(dir, 'd2'));
    await patchFile(basisPath, join(dir, 'd2'), join(dir, 'out2'));
    expect(sha(readFileSync(join(dir, 'out2')))).toBe(sha(target));
  });

  it('a failed patch leaves no output and no temporary file', async () => {
    const d = readFileSync(join(dir, 'd2'));
    const bad = Buffer.from(d);
    bad[bad.length - 40] ^= 0xff; // inside the trailer's target hash or the last frame
    writeFileSync(join(dir, 'bad'), bad);
    const before = readdirSync(dir).length;
    await expect(patchFile(basisPath, join(dir, 'bad'), join(dir, 'never'))).rejects.toBeInstanceOf(RolldeltaError);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(readdirSync(dir).length).toBe(before);
  });

  it('patching onto the basis path itself replaces it only on success', async () => {
    const copy = join(dir, 'inplace.bin');
    writeFileSync(copy, basis);
    await patchFile(copy, join(dir, 'd2'), copy);
    expect(sha(readFileSync(copy))).toBe(sha(target));
  });

  it('FileBasis reads at any position and refuses reads past the end', async () => {
    const fb = await FileBasis.open(basisPath);
    try {
      expect(Buffer.compare(await fb.read(123_456, 1000), basis.subarray(123_456, 124_456))).toBe(0);
      await expect(fb.read(basis.length - 10, 11)).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
    } finally {
      await fb.close();
    }
  });

  it('a missing input is ERR_IO naming the file', async () => {
    await expect(signatureFile(join(dir, 'nope'), join(dir, 'x.sig'))).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('nope') });
  });
});

function sink(parts: Buffer[]): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      parts.push(Buffer.from(chunk));
      cb();
    },
  });
}
