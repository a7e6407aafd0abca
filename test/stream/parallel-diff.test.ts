// A diff index filled by several threads must be the table one thread builds, and level 9 frames
// packed by worker threads the bytes packed here, so the deltas are byte-identical whatever the
// worker count. The workers run the built dist/worker.mjs.
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffIndex } from '../../src/core/diff-index.js';
import { packFrame } from '../../src/format/_frame-packing.js';
import { BasisIndexer, buildDiffIndex, diffChunks, indexFile, diffFile, NativeDeltaEncoder, nodeRawDeflate, patch, readFileShared, RolldeltaError } from '../../src/index.js';
import { indexFileKeepingWorker } from '../../src/stream/diff-index-build.js';
import { WorkerFramePacker } from '../../src/stream/worker-frame-packer.js';
import { WorkerSha256 } from '../../src/stream/worker-sha256.js';
import { prng } from '../core/_diff-helpers.js';
import { arbCuts, arbPair, collect } from '../helpers/chunking.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-pindex-'));
beforeAll(() => ensureBuilt(), 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A basis and a target that shares most of it, moved about, with edits. */
function pair(n: number, seed: number): { basis: Uint8Array; target: Uint8Array } {
  const basis = prng(n, seed);
  const target = new Uint8Array(n + 1000);
  target.set(basis.subarray(n >> 1), 0);
  target.set(prng(1000, seed + 1), n - (n >> 1));
  target.set(basis.subarray(0, n >> 1), n - (n >> 1) + 1000);
  for (let i = 0; i < target.length; i += 4099) target[i] ^= 0x5a;
  return { basis, target };
}

describe('DiffIndex.fillPart', () => {
  it('builds the same table in any number of parts, filled in any order, in byte ranges as a basis is read', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.uint8Array({ min: 0, max: 3, maxLength: 5000 })),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(1, 3, 16),
        fc.boolean(),
        fc.boolean(),
        arbCuts,
        (basis, parts, stride, reverse, interleave, cuts) => {
          const whole = DiffIndex.build(basis, { stride, seedLength: 4 });
          const split = DiffIndex.create(basis, { stride, seedLength: 4 }, 'shared');
          const ends = [...cuts.map((c) => Math.floor(c * basis.length)).sort((a, b) => a - b), basis.length];
          const order = [...Array(parts).keys()];
          if (reverse) order.reverse();
          // Part after part, each read range by range; or range after range, every part in each
          // (an index object then takes each part up where its table says it stopped).
          const calls = interleave
            ? ends.flatMap((upTo, i) => order.map((part) => [part, ends[i - 1] ?? 0, upTo] as const))
            : order.flatMap((part) => ends.map((upTo, i) => [part, ends[i - 1] ?? 0, upTo] as const));
          for (const [part, from, upTo] of calls) split.fillPart(part, parts, from, upTo);
          expect(split.table).toEqual(whole.table);
        },
      ),
    );
  });

  it('refuses a part outside 0..parts-1 and a table of the wrong size', () => {
    const index = DiffIndex.create(prng(1000, 1), {}, 'shared');
    for (const [part, parts] of [[2, 2], [-1, 2], [0, 0], [0.5, 2]]) {
      expect(() => index.fillPart(part!, parts!)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    for (const [from, upTo] of [[-1, 10], [20, 10], [0, 1001], [0.5, 10]]) {
      expect(() => index.fillPart(0, 1, from, upTo)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(() => DiffIndex.create(prng(1000, 1), {}, new Int32Array(7))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('worker threads indexing the basis', () => {
  it('give the same index and basis hash as one thread, from shared and from plain memory', async () => {
    const { basis } = pair(1 << 20, 7);
    const one = await buildDiffIndex(basis);
    for (const input of [basis, await readShared(basis)]) {
      const two = await buildDiffIndex(input, { workers: 2 });
      expect(two.index.table.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(two.index.table).toEqual(one.index.table);
      expect(Buffer.from(two.sha256!).toString('hex')).toBe(createHash('sha256').update(basis).digest('hex'));
    }
    const unhashed = await buildDiffIndex(basis, { workers: 2, hashBasis: false });
    expect(unhashed.sha256).toBeUndefined();
    expect(unhashed.index.table).toEqual(one.index.table);
  });

  it('hash ranges of the basis as it lands (an image\'s layers), on this thread or the worker, empty ones too', async () => {
    const { basis } = pair(1 << 20, 9);
    const ends = [0, 100_000, 100_000, 700_001, basis.length, basis.length];
    const want = ends.map((end, i) => createHash('sha256').update(basis.subarray(i ? ends[i - 1] : 0, end)).digest('hex'));
    for (const workers of [1, 2]) {
      const bytes = workers > 1 ? await readShared(basis) : basis;
      const ix = new BasisIndexer(bytes, { workers, hashRanges: ends });
      for (const at of [1, 99_999, 100_000, 350_000, 700_002, basis.length]) ix.landed(at);
      const got = await ix.finish();
      expect(got.rangeSha256!.map((d) => Buffer.from(d).toString('hex'))).toEqual(want);
      expect(got.sha256).toBeUndefined();
      expect(got.index.table).toEqual((await buildDiffIndex(basis)).index.table);
    }
    const empty = await buildDiffIndex(new Uint8Array(0), { hashRanges: [0] });
    expect(Buffer.from(empty.rangeSha256![0]).toString('hex')).toBe(createHash('sha256').digest('hex'));
  });

  it("'auto' indexes a basis under 64 MiB on this thread, and from 64 MiB on one thread per core", async () => {
    const small = prng(3 << 20, 5);
    expect((await buildDiffIndex(small, { workers: 'auto' })).index.table.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect((await buildDiffIndex(small, { workers: 2 })).index.table.buffer).toBeInstanceOf(SharedArrayBuffer);
    const large = await buildDiffIndex(prng(64 << 20, 6), { workers: 'auto' });
    expect(large.index.table.buffer instanceof SharedArrayBuffer).toBe(availableParallelism() > 1);
  });

  it('give byte-identical deltas for any pair, worker count and chunking', async () => {
    await fc.assert(
      fc.asyncProperty(arbPair, fc.integer({ min: 1, max: 3 }), async ({ basis, target }, workers) => {
        const chunks = [target.subarray(0, target.length >> 1), target.subarray(target.length >> 1)];
        const one = await collect(diffChunks(basis, chunks, { seedLength: 4, stride: 2 }));
        const many = await collect(diffChunks(basis, chunks, { seedLength: 4, stride: 2, workers }));
        expect(many).toEqual(one);
        expect(patch(basis, many)).toEqual(target);
      }),
      { numRuns: 15 },
    );
  });

  it('diffFile and the CLI take --workers and write the same delta', async () => {
    const { basis, target } = pair(3 << 20, 11);
    const b = join(dir, 'b.bin');
    const t = join(dir, 't.bin');
    writeFileSync(b, basis);
    writeFileSync(t, target);
    await diffFile(b, t, join(dir, 'one.rdelta'));
    await diffFile(b, t, join(dir, 'two.rdelta'), { workers: 2 });
    const one = readFileSync(join(dir, 'one.rdelta'));
    expect(readFileSync(join(dir, 'two.rdelta'))).toEqual(one);
    const r = runCli(['diff', '--workers', 'auto', b, t, join(dir, 'cli.rdelta')]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(readFileSync(join(dir, 'cli.rdelta'))).toEqual(one);
    expect(runCli(['diff', '--workers', 'two', b, t, join(dir, 'x.rdelta')]).stderr.toString()).toMatch(/--workers takes auto or a whole number from 1 to 64/);
  });
});

describe('worker threads in a program started with Node options a worker refuses', () => {
  it('start: --input-type and V8 options such as --max-old-space-size are not passed on to them', () => {
    const index = join(import.meta.dirname, '..', '..', 'dist', 'index.js');
    const code = `import { buildDiffIndex } from ${JSON.stringify(index)}; const b = new Uint8Array(1 << 16).map((_, i) => i * 7); const r = await buildDiffIndex(b, { workers: 2 }); console.log(r.sha256.length);`;
    for (const flags of [[], ['--max-old-space-size=512'], ['--max-semi-space-size=1', '--stack-size=2000']]) {
      const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', code], { encoding: 'utf8' });
      expect(r.stderr, flags.join(' ')).toBe('');
      expect(r.stdout.trim()).toBe('32');
    }
  });
});

describe('level 9 frames packed by worker threads', () => {
  it('are the frames packed on this thread, in order, over many frames', async () => {
    const { basis, target } = pair(1 << 20, 3);
    // Literal-heavy: a quarter of the target replaced by text-like bytes context mixing packs well,
    // in frames large enough for worker threads to start.
    for (let i = 0; i < target.length >> 2; i++) target[i] = 97 + ((i * 7) % 13);
    const chunks = [target.subarray(0, 100_000), target.subarray(100_000)];
    const opts = { level: 9, frameSize: 64 << 10 };
    const one = await collect(diffChunks(basis, chunks, opts));
    const two = await collect(diffChunks(basis, chunks, { ...opts, workers: 2 }));
    expect(Buffer.from(two).equals(Buffer.from(one))).toBe(true);
    expect(patch(basis, two)).toEqual(target);
  });

  it("start only for a frame worth it: not for a delta's only frame (unless the event loop is to stay free), nor for random literals", async () => {
    const text = (n: number, seed: number) => new Uint8Array(n).map((_, i) => 97 + ((i * seed) % 23) + (i % 7 === 0 ? 1 : 0));
    const threeFrames = [text(85_000, 3), text(85_000, 5), text(85_000, 11)];
    const randomFrames = [prng(85_000, 1), prng(85_000, 2), prng(85_000, 3)];
    const cases = [
      { name: 'three frames of text', literals: threeFrames, free: false, starts: true },
      { name: 'one frame of text', literals: [text(75_000, 3)], free: false, starts: false },
      { name: 'random literals', literals: randomFrames, free: false, starts: false },
      { name: 'one frame of text, event loop kept free', literals: [text(75_000, 3)], free: true, starts: true },
      { name: 'random literals, event loop kept free', literals: randomFrames, free: true, starts: false },
    ];
    for (const { name, literals, free, starts } of cases) {
      const packer = new WorkerFramePacker(2, { keepEventLoopFree: free });
      const encode = async (packFrameAsync?: WorkerFramePacker['pack']) => {
        const out: Uint8Array[] = [];
        const enc = new NativeDeltaEncoder({ mode: 'diff', codec: 'deflate' }, (c) => out.push(c), {
          level: 9,
          frameSize: 80 << 10,
          rawDeflate: nodeRawDeflate, // as the workers pack small frames (deflate beats context mixing there)
          background: true,
          packFrameAsync,
        });
        let total = 0;
        for (const l of literals) {
          enc.literal(l);
          total += l.length;
        }
        enc.finish({ targetLength: total, targetSha256: new Uint8Array(32) });
        await enc.settled();
        return Buffer.concat(out);
      };
      try {
        const packed = await encode(packer.pack);
        expect(packer.started, name).toBe(starts);
        expect(packed.equals(await encode()), name).toBe(true);
      } finally {
        await packer.close();
      }
    }
  });

  it('refuse frames once closed, started or not', async () => {
    const job = { raw: new Uint8Array(100_000).fill(97), tagsRaw: 0, offsLen: 0, litLen: 0, level: 9, frameStart: 0 };
    const packer = new WorkerFramePacker(2);
    await packer.close();
    await expect(packer.pack(job, false)).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(packer.started).toBe(false);
  });

  it('a packer failure fails the delta in order, never as an unhandled rejection', async () => {
    const out: Uint8Array[] = [];
    let calls = 0;
    const enc = new NativeDeltaEncoder({ mode: 'diff', codec: 'deflate' }, (c) => out.push(c), {
      level: 9,
      frameSize: 256,
      background: true,
      packFrameAsync: (job) => (++calls === 2 ? Promise.reject(new RolldeltaError('ERR_IO', 'worker gone')) : Promise.resolve(packFrame(job, nodeRawDeflate))),
    });
    for (let i = 0; i < 8; i++) enc.literal(prng(300, i));
    await expect(enc.settled()).rejects.toMatchObject({ code: 'ERR_IO', message: 'worker gone' });
    expect(calls).toBeGreaterThan(2);
  });
});

describe('indexFile: a basis indexed while it is read', () => {
  it('is the index and hash of the whole basis, on one thread or several, for any size', async () => {
    for (const n of [0, 5, 1000, (20 << 20) + 12345]) {
      const basis = prng(n, n + 1);
      const path = writeAndName(`indexed-${n}.bin`, basis);
      const want = DiffIndex.build(basis);
      for (const workers of [1, 2, 3]) {
        const got = await indexFile(path, { workers });
        expect(Buffer.from(got.index.table.buffer).equals(Buffer.from(want.table.buffer)), `${n} bytes, ${workers} threads`).toBe(true);
        expect(Buffer.from(got.sha256!).toString('hex')).toBe(createHash('sha256').update(basis).digest('hex'));
      }
    }
  });

  it('keeps a two-thread index\'s worker open for the diff that follows, when asked, and only then', async () => {
    const basis = prng(3 << 20, 9);
    const path = writeAndName('kept.bin', basis);
    const want = DiffIndex.build(basis);
    for (const workers of [1, 2, 3]) {
      const { indexed, worker } = await indexFileKeepingWorker(path, { workers });
      expect(Buffer.from(indexed.index.table.buffer).equals(Buffer.from(want.table.buffer))).toBe(true);
      if (workers !== 2) {
        expect(worker).toBeUndefined();
        continue;
      }
      try {
        expect(worker!.error).toBeUndefined(); // still open: it takes the target's hash
        const h = new WorkerSha256(worker!);
        h.update(basis);
        expect(Buffer.from(await h.digest()).toString('hex')).toBe(createHash('sha256').update(basis).digest('hex'));
      } finally {
        await worker!.close();
      }
    }
  });

  it('a basis that cannot be opened is ERR_IO', async () => {
    await expect(indexFile(join(dir, 'missing-basis.bin'), { workers: 2 })).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});

describe('readFileShared', () => {
  it('reads a whole file into shared memory', async () => {
    const data = prng(3 << 20, 5);
    const h = createHash('sha256');
    const seen: number[] = [];
    let opened: Uint8Array | undefined;
    const got = await readFileShared(writeAndName('shared.bin', data), {
      hasher: h,
      onOpen: (bytes) => {
        expect(seen).toEqual([]); // before the first piece has landed
        opened = bytes;
      },
      onRead: (_, read) => void seen.push(read),
    });
    expect(opened).toBe(got);
    expect(got.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(h.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(seen[seen.length - 1]).toBe(data.length);
    // Buffer.equals: vitest's deep equality walks a 3 MiB array element by element.
    expect(Buffer.from(got.buffer).equals(data)).toBe(true);
  });

  it('names a missing file in an ERR_IO', async () => {
    const e = await readFileShared(join(dir, 'missing.bin')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RolldeltaError);
    expect(e).toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('missing.bin') });
  });
});

function writeAndName(name: string, data: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

async function readShared(bytes: Uint8Array): Promise<Uint8Array> {
  return readFileShared(writeAndName('basis-shared.bin', bytes));
}
