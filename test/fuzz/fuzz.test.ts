/**
 * Fuzz suite over every decoder: valid seeds mutated (random bytes, truncation, bit flips, length
 * fields set to huge values, spliced slices) must decode or fail with a RolldeltaError, each within
 * a bounded time, with the process's memory bounded. Seeded and reproducible:
 *   FUZZ_RUNS   total inputs across all targets (default 2,400: the short pass CI runs)
 *   FUZZ_SEED   fast-check seed (default fixed); a failure prints the seed and path to replay
 * `npm run fuzz` runs the long pass (FUZZ_RUNS=1000000 by default there).
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRolldeltaError } from '../../src/core/errors.js';
import { HttpResponseParser } from '../../src/docker/_http-response-parser.js';
import { decodeSignature } from '../../src/format/signature-codec.js';
import { diff, patch, signature, delta } from '../../src/format/operations.js';
import { readTar } from '../../src/tar/archive.js';
import { ImageArchive } from '../../src/image/archive-reader.js';
import { diffImages } from '../../src/image/diff-images.js';
import { applyImageDelta } from '../../src/image/apply-image-delta.js';
import { readImageDeltaHeader } from '../../src/image/image-delta-format.js';
import { unzstdChunks } from '../../src/image/unzstd-chunks.js';
import { JsonLineDecoder } from '../../src/docker/json-stream.js';
import { FrameScanner } from '../../src/format/frame-scanner.js';
import { NativeDeltaDecoder } from '../../src/format/native-delta-decoder.js';
import { dockerLegacyTar, fixtureImage, ociLayoutTar, tarBytes } from '../helpers/image-fixtures.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2400);
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
/** One input may take this long before it counts as a hang. */
const MAX_INPUT_MS = 5000;
/** The whole run's resident memory must stay below this. */
const MAX_RSS = 1.5 * 2 ** 30;

/** A mutation of a seed input. */
type Mutation =
  | { kind: 'random'; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; bit: number; count: number }
  | { kind: 'huge'; at: number; width: number; value: number }
  | { kind: 'splice'; at: number; del: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 512 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('huge' as const), at: fc.nat(), width: fc.constantFrom(1, 2, 4, 8), value: fc.constantFrom(0xff, 0x7f, 0x80) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), del: fc.nat(64), bytes: fc.uint8Array({ maxLength: 64 }) }),
);

function mutate(seed: Uint8Array, m: Mutation): Uint8Array {
  const n = seed.length;
  switch (m.kind) {
    case 'random':
      return m.bytes;
    case 'truncate':
      return seed.slice(0, n === 0 ? 0 : m.at % n);
    case 'flip': {
      const out = seed.slice();
      for (let i = 0; i < m.count && n > 0; i++) out[(m.at + i * 7919) % n]! ^= 1 << m.bit;
      return out;
    }
    case 'huge': {
      // Length fields (u32, varints, octal sizes) set to their largest or a varint that never ends.
      const out = seed.slice();
      for (let i = 0; i < m.width && n > 0; i++) out[(m.at + i) % n] = m.value;
      return out;
    }
    case 'splice': {
      const at = n === 0 ? 0 : m.at % n;
      const out = new Uint8Array(n - Math.min(m.del, n - at) + m.bytes.length);
      out.set(seed.subarray(0, at));
      out.set(m.bytes, at);
      out.set(seed.subarray(at + Math.min(m.del, n - at)), at + m.bytes.length);
      return out;
    }
  }
}

const enc = new TextEncoder();
/** Bytes from hex, as a Uint8Array (a Buffer's slice is a view: mutations would edit the seed). */
const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
let dir = '';
let counter = 0;
const tmp = (name: string) => join(dir, `${counter++}-${name}`);

interface Target {
  name: string;
  /** Valid inputs the mutations start from. */
  seeds: () => Uint8Array[];
  /** Decodes one input; must resolve or reject with a RolldeltaError. */
  run: (input: Uint8Array) => Promise<unknown> | unknown;
  /** Relative share of the runs (file-backed targets are slower). */
  weight: number;
}

const basis = enc.encode('rolldelta fuzz basis: '.repeat(400) + 'the quick brown fox jumps over the lazy dog\n'.repeat(50));
const target = (() => {
  const t = basis.slice(100);
  t[500] ^= 1;
  return new Uint8Array([...enc.encode('new head '), ...t, ...enc.encode(' and a new tail of literal text')]);
})();

const layer1 = tarBytes([
  { type: 'dir', name: 'etc/' },
  { type: 'file', name: 'etc/hostname', data: 'fuzz\n' },
  { type: 'file', name: 'a/very/long/path/'.repeat(8) + 'file.txt', data: 'long names take a GNU or pax header\n' },
  { type: 'symlink', name: 'etc/link', target: 'hostname' },
]);
const layer2 = tarBytes([{ type: 'file', name: 'app/main.js', data: 'console.log("v1")\n'.repeat(40) }]);
const layer2b = tarBytes([{ type: 'file', name: 'app/main.js', data: 'console.log("v2")\n'.repeat(40) }]);
const oldImage = fixtureImage([layer1, layer2], { repoTags: ['fuzz:1'] });
const newImage = fixtureImage([layer1, layer2b], { repoTags: ['fuzz:2'] });
let imageDelta = new Uint8Array(0);
let oldArchivePath = '';

const targets: Target[] = [
  {
    name: 'native delta (deflate, context mixing, rsync mode) through patch',
    seeds: () => [diff(basis, target, { level: 6 }), diff(basis, target, { level: 9 }), delta(signature(basis), target)],
    run: (input) => patch(basis, input),
    weight: 3,
  },
  {
    name: 'native delta, ops only (the first pass of an in-place patch)',
    seeds: () => [diff(basis, target, { level: 6 }), diff(basis, target, { level: 9 }), delta(signature(basis), target)],
    run: (input) => new NativeDeltaDecoder({ copy() {}, literal() {}, add() {} }, { opsOnly: true }).push(input, true),
    weight: 1,
  },
  {
    name: 'rdiff delta through patch',
    seeds: () => [delta(signature(basis, { format: 'rdiff' }), target, { format: 'rdiff' })],
    run: (input) => patch(basis, input),
    weight: 2,
  },
  {
    name: 'native and rdiff signatures',
    seeds: () => [signature(basis), signature(basis, { format: 'rdiff' }), signature(basis, { format: 'rdiff', hash: 'md4' })],
    run: (input) => decodeSignature(input),
    weight: 2,
  },
  {
    name: 'tar reader',
    seeds: () => [layer1, layer2],
    run: (input) => readTar(input),
    weight: 2,
  },
  {
    name: 'image delta header',
    seeds: () => [imageDelta.slice(0, Math.min(imageDelta.length, 4096))],
    run: (input) => readImageDeltaHeader(async (p, n) => input.slice(p, p + n), input.length),
    weight: 1,
  },
  {
    name: 'image archive reader (docker save, OCI layout)',
    seeds: () => [dockerLegacyTar([oldImage]), ociLayoutTar([newImage])],
    run: async (input) => {
      const path = tmp('archive.tar');
      writeFileSync(path, input);
      const archive = await ImageArchive.open(path);
      await archive.close();
    },
    weight: 1,
  },
  {
    name: 'zstd layer stream (unzstdChunks)',
    // made by the zstd program: `zstd -19` of 40 lines (content size, checksum), `zstd -1 --no-check`
    // from a pipe (window descriptor, no content size), then a skippable frame
    seeds: () => [hex('28b52ffd64ef019d020002840d11b03b208cdac2e0eacccccc4cd67b6011036084dbf2debc9a785ade9b57132fcb7bf36ae261796f5e4d3002b620d04ae4a4c5d4320127a811a0bbff06f0e510fe44287d759d04bdbbf5fb3f772890d43f3fe8bb'), hex('28b52ffd00485d0400c284101690b56db5eb288971603ffe3fa29b4864b77c8a97180e9a7846101d5334f18c1c3aa668e21931744cd1c4fb725241f336afe1c60604f5066c7f8b759c58b72f271522008013e01c701870043817380846061c01ce018701478073c061c011e05ce0201819700438071c061c01ce0187014780738d72108c0c8c02c6032303a380f1c0c85046a507' + '502a4d1803000000616263')],
    run: async (input) => {
      // A block fzstd spins on (it does not bound a block's sequences) ends at the deadline: 1 s here.
      const chunks = (async function* () { for (let i = 0; i < input.length; i += 100) yield input.subarray(i, i + 100); })();
      for await (const c of unzstdChunks(chunks, 'a fuzzed layer', { blockDeadlineMs: 1000 })) void c;
    },
    weight: 2,
  },
  {
    name: 'image delta through applyImageDelta',
    seeds: () => [imageDelta],
    run: async (input) => {
      const path = tmp('delta.rdimg');
      writeFileSync(path, input);
      await applyImageDelta(oldArchivePath, path, tmp('out.tar'));
    },
    weight: 1,
  },
  {
    name: 'download frame scanner (native and image deltas)',
    seeds: () => [diff(basis, target, { level: 1, frameSize: 256 }), imageDelta],
    run: (input) => new FrameScanner().push(input),
    weight: 1,
  },
  {
    name: 'Docker JSON progress lines',
    seeds: () => [enc.encode('{"status":"Loading layer","progressDetail":{"current":1,"total":2}}\n{"stream":"Loaded image: a:1"}\n{"errorDetail":{"message":"x"},"error":"x"}\n')],
    run: (input) => {
      const d = new JsonLineDecoder(4096);
      d.push(input);
      d.push(enc.encode('\n'));
    },
    weight: 1,
  },
  {
    name: 'Docker Engine HTTP answers (docker save off the socket)',
    seeds: () => [
      enc.encode('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n'),
      enc.encode('HTTP/1.0 404 Not Found\r\nContent-Length: 27\r\n\r\n{"message":"No such image"}'),
    ],
    run: (input) => {
      const p = new HttpResponseParser(() => {}, 'a fuzzed answer');
      p.push(input);
      p.end();
    },
    weight: 1,
  },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rolldelta-fuzz-'));
  oldArchivePath = join(dir, 'old.tar');
  writeFileSync(oldArchivePath, dockerLegacyTar([oldImage]));
  const newPath = join(dir, 'new.tar');
  writeFileSync(newPath, dockerLegacyTar([newImage]));
  await diffImages(oldArchivePath, newPath, join(dir, 'seed.rdimg'));
  imageDelta = new Uint8Array((await import('node:fs')).readFileSync(join(dir, 'seed.rdimg')));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`fuzz: ${RUNS} inputs, seed ${SEED}`, () => {
  const totalWeight = targets.reduce((a, t) => a + t.weight, 0);
  for (const t of targets) {
    const runs = Math.max(1, Math.round((RUNS * t.weight) / totalWeight));
    it(`${t.name}: ${runs} inputs end in success or a RolldeltaError`, async () => {
      const seeds = t.seeds();
      await fc.assert(
        fc.asyncProperty(fc.nat(seeds.length - 1), mutation, async (which, m) => {
          const input = mutate(seeds[which]!, m);
          const started = performance.now();
          try {
            await t.run(input);
          } catch (e) {
            if (!isRolldeltaError(e)) throw e;
          }
          expect(performance.now() - started).toBeLessThan(MAX_INPUT_MS);
          expect(process.memoryUsage().rss).toBeLessThan(MAX_RSS);
        }),
        { seed: SEED, numRuns: runs },
      );
      // The unmutated seeds still decode: the harness is not rejecting everything.
      for (const s of seeds) await t.run(s);
    }, 600_000);
  }
});
