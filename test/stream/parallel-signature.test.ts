// Signatures summed by worker threads must be byte-identical to the one-thread path, for files
// (ranges read by the workers) and for streams (pieces piped to the workers), in both formats.
// The workers run the built dist/worker.mjs (Node 20 cannot start a worker from .ts sources).
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSignatureParams } from '../../src/core/block-size.js';
import type { RollsumName, StrongHashName } from '../../src/core/params.js';
import { buildSignature } from '../../src/core/signature-builder.js';
import { encodeSignature } from '../../src/format/signature-codec.js';
import { RolldeltaError, resolveWorkerCount, signatureChunks, signatureFile, signatureFileChunks } from '../../src/index.js';
import { workersForSize } from '../../src/stream/worker-count.js';
import { Sha256 } from '../../src/core/sha256.js';
import { nodeSha256 } from '../../src/stream/node-sha256.js';
import { ProgressMeter } from '../../src/stream/progress.js';
import { WorkerPool } from '../../src/stream/worker-pool.js';
import { fileSignatureParallel, streamSignatureParallel } from '../../src/stream/_parallel-signature.js';
import { arbCuts, collect, cutByFractions } from '../helpers/chunking.js';
import { runCli } from '../helpers/cli.js';
import { noise } from '../helpers/noise.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'rolldelta-workers-'));

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'worker.mjs')) || !existsSync(join(root, 'dist', 'cli.js'))) {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  }
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Format = 'native' | 'rdiff';
const combos: { format: Format; hash: StrongHashName; rollsum: RollsumName }[] = [];
for (const rollsum of ['rabinkarp', 'rollsum'] as const) {
  for (const hash of ['sha256', 'blake2b', 'md4'] as const) combos.push({ format: 'native', hash, rollsum });
  for (const hash of ['blake2b', 'md4'] as const) combos.push({ format: 'rdiff', hash, rollsum });
}

function oneThread(data: Uint8Array, format: Format, opts: { blockLength: number; hash: StrongHashName; rollsum: RollsumName; strongLength?: number }): Uint8Array {
  return encodeSignature(buildSignature(data, { ...opts, sha256: nodeSha256 }), format);
}

let fileNo = 0;
function tempFile(data: Uint8Array): string {
  const p = join(dir, `basis-${fileNo++}`);
  writeFileSync(p, data);
  return p;
}

const meter = () => new ProgressMeter({});

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return ''; // closed meanwhile
  }
}

describe('parallel signature, byte-identical to one thread', () => {
  const bl = 64;
  // Sizes around block and piece boundaries (pieces of 3 blocks here).
  const sizes = [0, 1, bl - 1, bl, bl + 1, 3 * bl - 1, 3 * bl, 3 * bl + 1, 7 * bl + 5, 12 * bl];

  it.each(combos)('file ranges and stream pieces: $format $hash $rollsum, sizes around boundaries', async ({ format, hash, rollsum }) => {
    const pool = new WorkerPool(2);
    try {
      const data = noise(12 * bl + 7, 7);
      const params = resolveSignatureParams(undefined, { blockLength: bl, hash, rollsum });
      for (const size of sizes) {
        const d = data.subarray(0, size);
        const want = oneThread(d, format, { blockLength: bl, hash, rollsum });
        const opts = { workers: 2, withSha256: format === 'native', meter: meter(), pieceBytes: 3 * bl, pool };
        const path = tempFile(d);
        expect(Buffer.compare(encodeSignature(await fileSignatureParallel(path, size, params, opts), format), want), `file, ${size} bytes`).toBe(0);
        expect(Buffer.compare(encodeSignature(await streamSignatureParallel([d], params, opts), format), want), `stream, ${size} bytes`).toBe(0);
      }
    } finally {
      await pool.close();
    }
  });

  it('any chunking of a streamed basis, any piece size and worker count', async () => {
    const pools = [new WorkerPool(2), new WorkerPool(3)];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        arbCuts,
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 2, max: 3 }),
        fc.constantFrom<Format>('native', 'rdiff'),
        async (size, cuts, blockLength, pieceBytes, workers, format) => {
          const d = noise(size, size + 1);
          const hash = format === 'rdiff' ? 'blake2b' : 'sha256';
          const params = resolveSignatureParams(undefined, { blockLength, hash, strongLength: -1 });
          const want = oneThread(d, format, { blockLength, hash, rollsum: 'rabinkarp', strongLength: params.strongLength });
          const got = await streamSignatureParallel(cutByFractions(d, cuts), params, { workers, withSha256: format === 'native', meter: meter(), pieceBytes, pool: pools[workers - 2] });
          expect(Buffer.compare(encodeSignature(got, format), want)).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
    await Promise.all(pools.map((p) => p.close()));
  });

  it('the public API: signatureFile, signatureFileChunks and signatureChunks with workers', async () => {
    const d = noise(3_000_001, 3); // several 1 MiB reads per piece, an odd tail
    const path = tempFile(d);
    for (const format of ['native', 'rdiff'] as const) {
      await signatureFile(path, `${path}.1.sig`, { format });
      const want = readFileSync(`${path}.1.sig`);
      await signatureFile(path, `${path}.2.sig`, { format, workers: 2 });
      expect(Buffer.compare(readFileSync(`${path}.2.sig`), want)).toBe(0);
      const fromFile = await collect(signatureFileChunks(path, { format, size: d.length, workers: 'auto', blockLength: 4096 }));
      expect(Buffer.compare(fromFile, await collect(signatureChunks([d], { format, size: d.length, blockLength: 4096 })))).toBe(0);
      const piped = await collect(signatureChunks([d.subarray(0, 12345), d.subarray(12345)], { format, size: d.length, workers: 3 }));
      expect(Buffer.compare(piped, want)).toBe(0);
    }
  });

  it('reports progress up to the whole file', async () => {
    const d = noise(40_000, 9);
    const path = tempFile(d);
    const seen: number[] = [];
    await signatureFile(path, `${path}.sig`, { workers: 2, onProgress: (p) => seen.push(p.bytesIn) });
    expect(seen.at(-1)).toBe(d.length);
  });
});

describe('parallel signature errors', () => {
  const params = resolveSignatureParams(undefined, { blockLength: 64, hash: 'sha256' });

  it('a missing file is ERR_IO', async () => {
    await expect(signatureFile(join(dir, 'nope'), join(dir, 'nope.sig'), { workers: 2 })).rejects.toMatchObject({ code: 'ERR_IO' });
  });

  it('a file shorter or longer than its stated size (changed since the size was taken) is ERR_IO, not a signature of part of it; the pool still works', async () => {
    const path = tempFile(noise(1000, 1));
    const pool = new WorkerPool(2);
    try {
      // Without a basis SHA-256 (rdiff format) nothing else would tell: 600 bytes were summed.
      const opts = { workers: 2, withSha256: false, meter: meter(), pieceBytes: 640, pool };
      for (const stated of [5000, 600]) {
        const e = await fileSignatureParallel(path, stated, params, opts).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(RolldeltaError);
        expect(e, `${stated}`).toMatchObject({ code: 'ERR_IO', message: `${path} has 1000 bytes, expected ${stated}: the file changed while its signature was made; try again` });
      }
      const ok = await fileSignatureParallel(path, 1000, params, opts);
      expect(ok.blockCount).toBe(16);
    } finally {
      await pool.close();
    }
  });

  it('a file replaced while workers sum it: ERR_IO, and the hash of the old one stops with the call instead of reading it to its end', async () => {
    const size = 48 << 20;
    const path = tempFile(noise(size, 5));
    // Descriptors of this process still open on the old file (renamed over: "(deleted)").
    const onOld = () => readdirSync('/proc/self/fd').filter((fd) => readlinkSafe(`/proc/self/fd/${fd}`) === `${path} (deleted)`).length;
    let hashed = 0;
    // Counts what the main thread hashes; its first bytes are the moment to replace the file,
    // as an updater does with a rename: tasks started after it open the new, short file. The
    // TypeScript SHA-256 (~10x slower than node:crypto), run three times over each piece, stands
    // for a basis large enough that its hash outlasts the workers' first tasks (once only, a CI
    // run on a loaded machine had hashed 30 of the 48 MiB before the call stopped).
    const sha256 = () => {
      const h = new Sha256();
      return {
        update(d: Uint8Array) {
          if (hashed === 0) renameSync(tempFile(noise(5, 6)), path);
          hashed += d.length;
          h.update(d);
          new Sha256().update(d);
          new Sha256().update(d);
          return this;
        },
        digest: () => h.digest(),
      };
    };
    await expect(signatureFile(path, join(dir, 'replaced.sig'), { workers: 2, sha256 })).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('changed while') });
    for (let t = 0; onOld() > 0 && t < 200; t++) await new Promise((r) => setTimeout(r, 50));
    expect(onOld()).toBe(0);
    expect(hashed).toBeLessThan(size / 2);
  });

  it('a file replaced by one of the same size while workers sum it: ERR_IO, not a signature of neither', async () => {
    const size = 48 << 20;
    for (const format of ['native', 'rdiff'] as const) {
      const path = tempFile(noise(size, 7));
      const other = tempFile(noise(size, 8));
      let replaced = false;
      // The first task's sums are in: the rest of the 8 MiB tasks open the file after this rename
      // (the native format's SHA-256 reads the old one to its end: the same length).
      const onProgress = () => {
        if (!replaced) renameSync(other, path);
        replaced = true;
      };
      const e = await signatureFile(path, join(dir, `same-size.${format}.sig`), { workers: 2, format, onProgress }).catch((x: unknown) => x);
      expect(replaced).toBe(true);
      expect(e, format).toMatchObject({ code: 'ERR_IO', message: expect.stringContaining('changed while') });
    }
  });

  it('a closed pool rejects new tasks with ERR_ABORTED', async () => {
    const pool = new WorkerPool(1);
    await pool.close();
    await expect(streamSignatureParallel([noise(100, 1)], params, { workers: 1, withSha256: false, meter: meter(), pool })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('an abort rejects with ERR_ABORTED and stops the workers', async () => {
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield noise(1000, 2);
      ac.abort();
      await new Promise((r) => setTimeout(r, 50));
      yield noise(1000, 3);
    }
    await expect(collect(signatureChunks(slow(), { workers: 2, signal: ac.signal }))).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const pre = AbortSignal.abort();
    await expect(signatureFile(tempFile(noise(10, 1)), join(dir, 'x.sig'), { workers: 2, signal: pre })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('worker counts: undefined is 1, auto and 0 one per core, others validated', () => {
    expect(resolveWorkerCount(undefined)).toBe(1);
    expect(resolveWorkerCount('auto')).toBeGreaterThanOrEqual(1);
    expect(resolveWorkerCount(0)).toBe(resolveWorkerCount('auto'));
    expect(resolveWorkerCount(3)).toBe(3);
    for (const bad of [-1, 1.5, 65, Number.NaN]) expect(() => resolveWorkerCount(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it("'auto' for a known size under 64 MiB is one thread; a count asked for is that count", () => {
    const cores = resolveWorkerCount('auto');
    expect(workersForSize('auto', (64 << 20) - 1)).toBe(1);
    expect(workersForSize(0, 6e6)).toBe(1);
    expect(workersForSize('auto', 64 << 20)).toBe(cores);
    expect(workersForSize('auto', undefined)).toBe(cores); // a stream of unknown length
    expect(workersForSize(2, 6e6)).toBe(2);
    expect(workersForSize(undefined, 1 << 30)).toBe(1);
    expect(() => workersForSize(-1, 6e6)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('rolldelta signature --workers (built CLI)', () => {
  it('writes the same signature from a file and from stdin, both formats', () => {
    const d = noise(700_001, 5);
    const path = tempFile(d);
    for (const format of ['native', 'rdiff']) {
      expect(runCli(['signature', '--format', format, path, `${path}.a`]).status).toBe(0);
      const r = runCli(['signature', '--format', format, '--workers', '2', path, `${path}.b`]);
      expect(r.stderr.toString()).toBe('');
      expect(r.status).toBe(0);
      expect(runCli(['signature', '--format', format, '--workers=auto', '-', `${path}.c`], d).status).toBe(0);
      const want = readFileSync(`${path}.a`);
      expect(Buffer.compare(readFileSync(`${path}.b`), want)).toBe(0);
      // stdin: size unknown, so rdiff's default block length; compare with one thread on stdin.
      expect(runCli(['signature', '--format', format, '-', `${path}.d`], d).status).toBe(0);
      expect(Buffer.compare(readFileSync(`${path}.c`), readFileSync(`${path}.d`))).toBe(0);
    }
  });

  it('refuses a bad --workers as a usage error', () => {
    const r = runCli(['signature', '--workers', 'many', tempFile(noise(10, 1)), join(dir, 'y.sig')]);
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toContain('--workers');
  });
});
