import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchDelta } from '../../src/core/matcher.js';
import { OpCollector } from '../../src/core/ops.js';
import type { RollsumName, Signature, StrongHashName } from '../../src/core/params.js';
import { patchOps } from '../../src/core/patcher.js';
import { buildSignature } from '../../src/core/signature-builder.js';
import { peer } from '../helpers/peers.js';

function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Basis/target pairs of the shapes the law must hold for. */
const arbCase = fc
  .tuple(
    fc.oneof(fc.uint8Array({ maxLength: 2500 }), fc.uint8Array({ maxLength: 600 }).map((a) => a.map((x) => x & 3))),
    fc.uint8Array({ maxLength: 300 }),
    fc.nat(),
    fc.nat(),
    fc.integer({ min: 0, max: 8 }),
  )
  .map(([basis, extra, a, b, shape]) => {
    const i = basis.length ? a % basis.length : 0;
    const j = basis.length ? b % basis.length : 0;
    const [lo, hi] = i < j ? [i, j] : [j, i];
    const targets: Uint8Array[] = [
      extra, // unrelated, often shorter than a block
      new Uint8Array(0), // empty
      cat(extra, basis), // shifted
      basis.subarray(lo, hi), // truncated
      cat(basis.subarray(0, lo), extra, basis.subarray(hi)), // spliced
      cat(basis, basis.subarray(lo, hi), basis), // repeated copies
      cat(basis.subarray(hi), basis.subarray(lo, hi), basis.subarray(0, lo)), // blocks moved
      basis, // unchanged
      cat(basis, extra), // appended
    ];
    return { basis, target: targets[shape] };
  });

function roundTrip(basis: Uint8Array, target: Uint8Array, blockLength: number, rollsum: RollsumName, hash: StrongHashName, strongLength: number) {
  const sig = buildSignature(basis, { blockLength, rollsum, hash, strongLength });
  const ops = new OpCollector();
  matchDelta(sig, target, ops);
  const list = ops.finish();
  // Buffer.equals: toEqual on megabyte arrays is very slow.
  expect(Buffer.from(patchOps(basis, list)).equals(target)).toBe(true);
  return list;
}

describe('patch(basis, delta(signature(basis), target)) == target', () => {
  it('holds for arbitrary pairs, block lengths, rollsums and hashes', () => {
    fc.assert(
      fc.property(
        arbCase,
        fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 2, 7, 256, 1024, 4096)),
        fc.constantFrom<RollsumName>('rabinkarp', 'rollsum'),
        fc.constantFrom<StrongHashName>('blake2b', 'md4', 'sha256'),
        fc.integer({ min: 1, max: 16 }),
        ({ basis, target }, blockLength, rollsum, hash, strongLength) => {
          roundTrip(basis, target, blockLength, rollsum, hash, strongLength);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('turns an unchanged basis into exactly one COPY', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.integer({ min: 1, max: 400 }),
        fc.constantFrom<RollsumName>('rabinkarp', 'rollsum'),
        fc.constantFrom<StrongHashName>('blake2b', 'md4', 'sha256'),
        (basis, blockLength, rollsum, hash) => {
          const ops = roundTrip(basis, basis, blockLength, rollsum, hash, hash === 'md4' ? 16 : 32);
          expect(ops).toEqual([{ type: 'copy', offset: 0, length: basis.length }]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds for large inputs with scattered edits and sends little', () => {
    const basis = new Uint8Array(3 << 20);
    let x = 12345;
    for (let i = 0; i < basis.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      basis[i] = x >>> 24;
    }
    const target = basis.slice();
    for (let k = 0; k < 30; k++) target[(k * 104729) % target.length] ^= 0x5a;
    const withInsert = cat(target.subarray(0, 1_000_000), new Uint8Array(333).fill(7), target.subarray(1_000_000));
    for (const rollsum of ['rabinkarp', 'rollsum'] as RollsumName[]) {
      const ops = roundTrip(basis, withInsert, 2048, rollsum, 'blake2b', 32);
      const literal = ops.reduce((n, op) => n + (op.type === 'literal' ? op.data.length : 0), 0);
      // 30 edited blocks (at most 2048 bytes each) plus the insertion and the block it breaks.
      expect(literal).toBeLessThanOrEqual(31 * 2048 + 333 + 2048);
    }
  });
});

/** Reads an rdiff signature file into a Signature without basisLength (format facts from LIBRSYNC.md). */
function readRdiffSignature(file: Uint8Array): Signature {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0);
  const blockLength = v.getUint32(4);
  const strongLength = v.getUint32(8);
  const n = (file.length - 12) / (4 + strongLength);
  const weak = new Uint32Array(n);
  const strong = new Uint8Array(n * strongLength);
  for (let i = 0; i < n; i++) {
    const at = 12 + i * (4 + strongLength);
    weak[i] = v.getUint32(at);
    strong.set(file.subarray(at + 4, at + 4 + strongLength), i * strongLength);
  }
  const rollsum: RollsumName = (magic & 0xf0) === 0x40 ? 'rabinkarp' : 'rollsum';
  const hash: StrongHashName = (magic & 0x0f) === 7 ? 'blake2b' : 'md4';
  return { blockLength, strongLength, rollsum, hash, blockCount: n, weak, strong };
}

describe.skipIf(peer('rdiff', 'rdiff').skip)('with signatures made by rdiff', () => {
  it('matches and patches back (the short last block found without basisLength)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rolldelta-law-'));
    try {
      fc.assert(
        fc.property(arbCase, fc.constantFrom(['-b', '64'], ['-b', '100', '-R', 'rollsum', '-H', 'md4'], ['-b', '7', '-S', '4']), ({ basis, target }, args) => {
          writeFileSync(join(dir, 'basis'), basis);
          execFileSync('rdiff', [...args, '-f', 'signature', join(dir, 'basis'), join(dir, 'sig')]);
          const sig = readRdiffSignature(new Uint8Array(readFileSync(join(dir, 'sig'))));
          const ops = new OpCollector();
          matchDelta(sig, target, ops);
          const list = ops.finish();
          expect(Buffer.from(patchOps(basis, list)).equals(target)).toBe(true);
          if (target === basis && basis.length > 0) expect(list).toEqual([{ type: 'copy', offset: 0, length: basis.length }]);
        }),
        { numRuns: 60 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
