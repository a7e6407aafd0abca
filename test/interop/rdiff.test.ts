// Wire compatibility with librsync's rdiff, shown against the real program in both directions.
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { delta, patch, signature } from '../../src/index.js';
import { cliPath, ensureBuilt, runCli } from '../helpers/cli.js';
import { peer } from '../helpers/peers.js';

const rdiffPeer = peer('rdiff', 'rdiff');
const dir = mkdtempSync(join(tmpdir(), 'rolldelta-rdiff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

function rdiff(...args: string[]): void {
  execFileSync('rdiff', ['-f', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

const variants = [
  { hash: 'blake2b', rollsum: 'rabinkarp', H: 'blake2', R: 'rabinkarp', magic: 0x72730147 },
  { hash: 'blake2b', rollsum: 'rollsum', H: 'blake2', R: 'rollsum', magic: 0x72730137 },
  { hash: 'md4', rollsum: 'rabinkarp', H: 'md4', R: 'rabinkarp', magic: 0x72730146 },
  { hash: 'md4', rollsum: 'rollsum', H: 'md4', R: 'rollsum', magic: 0x72730136 },
] as const;

/** Checks (a) identical signatures, (b) rdiff's delta through our patch, (c) our delta through rdiff's patch. */
function checkPair(basis: Uint8Array, target: Uint8Array, v: (typeof variants)[number], blockLength: number, strongLength: number): void {
  writeFileSync(p('basis'), basis);
  writeFileSync(p('target'), target);
  rdiff('-H', v.H, '-R', v.R, '-b', String(blockLength), '-S', String(strongLength), 'signature', p('basis'), p('r.sig'));
  const ours = signature(basis, { format: 'rdiff', hash: v.hash, rollsum: v.rollsum, blockLength, strongLength });
  const theirs = readFileSync(p('r.sig'));
  expect(Buffer.compare(ours, theirs)).toBe(0);
  // (b) rdiff delta against our signature, our patch.
  writeFileSync(p('o.sig'), ours);
  rdiff('delta', p('o.sig'), p('target'), p('r.delta'));
  expect(Buffer.compare(patch(basis, readFileSync(p('r.delta'))), target)).toBe(0);
  // (c) our delta against rdiff's signature, rdiff's patch.
  writeFileSync(p('o.delta'), delta(theirs, target, { format: 'rdiff' }));
  rdiff('patch', p('basis'), p('o.delta'), p('r.out'));
  expect(Buffer.compare(readFileSync(p('r.out')), target)).toBe(0);
}

describe.skipIf(rdiffPeer.skip)('interop with rdiff (librsync 2.3)', () => {
  for (const v of variants) {
    it(`${v.hash}/${v.rollsum}: generated inputs, both directions, identical signatures`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 4000 }),
          fc.uint8Array({ maxLength: 300 }),
          fc.nat(),
          fc.integer({ min: 1, max: 700 }),
          fc.integer({ min: 1, max: v.hash === 'md4' ? 16 : 32 }),
          (basis, insert, at, blockLength, strongLength) => {
            const i = basis.length ? at % basis.length : 0;
            const target = Buffer.concat([basis.subarray(i), insert, basis.subarray(0, i)]);
            checkPair(basis, target, v, blockLength, strongLength);
          },
        ),
        { numRuns: 25 },
      );
    });
  }

  it('realistic inputs: a few MB of text and binaries, edited', () => {
    const text = Buffer.from(execFileSync('sh', ['-c', 'cat /usr/share/common-licenses/* /usr/share/perl5/*.pm 2>/dev/null | head -c 2500000']));
    const bin = readFileSync(process.execPath).subarray(0, 3_000_000);
    for (const basis of [text, bin]) {
      const target = Buffer.concat([basis.subarray(0, 700_000), Buffer.from('a new line\n'), basis.subarray(700_050, 2_000_000), basis.subarray(100_000, 300_000), basis.subarray(2_000_000)]);
      for (const v of variants) checkPair(basis, target, v, 2048, v.hash === 'md4' ? 8 : 16);
    }
  });

  it('with no options, `rolldelta signature --format rdiff` writes exactly what `rdiff signature` writes', () => {
    ensureBuilt();
    for (const size of [0, 1, 1000, 65536, 65537, 1_000_000, 5_000_000]) {
      const data = Buffer.alloc(size).map((_, i) => (i * 2654435761) >>> 23);
      writeFileSync(p('d'), data);
      rdiff('signature', p('d'), p('r.sig'));
      expect(runCli(['signature', '--format', 'rdiff', p('d'), p('o.sig')]).status).toBe(0);
      expect(Buffer.compare(readFileSync(p('o.sig')), readFileSync(p('r.sig')))).toBe(0);
    }
  });

  it('a basis on stdin redirected from a file gets rdiff\'s block length: rdiff stats stdin', () => {
    ensureBuilt();
    for (const size of [1000, 1_000_000]) {
      writeFileSync(p('d'), Buffer.alloc(size).map((_, i) => (i * 2654435761) >>> 23));
      execFileSync('sh', ['-c', 'rdiff -f signature - - < "$1" > "$2"', 'sh', p('d'), p('r.sig')]);
      const fd = openSync(p('d'), 'r');
      try {
        const r = spawnSync(process.execPath, [cliPath, 'signature', '--format', 'rdiff', '-', '-'], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 26 });
        expect(r.status).toBe(0);
        expect(Buffer.compare(r.stdout, readFileSync(p('r.sig')))).toBe(0);
      } finally {
        closeSync(fd);
      }
    }
    // From a pipe neither knows the size: both take 2048-byte blocks.
    const piped = runCli(['signature', '--format', 'rdiff', '-', '-'], readFileSync(p('d')));
    expect(piped.stdout.readUInt32BE(4)).toBe(2048);
  });

  it('patch takes its basis from stdin redirected from a file, as `rdiff patch - DELTA NEW < OLD` does', () => {
    ensureBuilt();
    const basis = readFileSync(process.execPath).subarray(0, 300_000);
    const target = Buffer.concat([basis.subarray(5000), Buffer.from('new'), basis.subarray(0, 5000)]);
    writeFileSync(p('basis'), basis);
    writeFileSync(p('target'), target);
    rdiff('signature', p('basis'), p('r.sig'));
    rdiff('delta', p('r.sig'), p('target'), p('r.delta'));
    execFileSync('sh', ['-c', 'rdiff -f patch - "$1" "$2" < "$3"', 'sh', p('r.delta'), p('r.out'), p('basis')]);
    expect(Buffer.compare(readFileSync(p('r.out')), target)).toBe(0);
    const fd = openSync(p('basis'), 'r');
    try {
      for (const out of [p('o.out'), '-']) {
        const r = spawnSync(process.execPath, [cliPath, 'patch', '-', p('r.delta'), out], { stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 26 });
        expect(r.status, r.stderr.toString()).toBe(0);
        expect(Buffer.compare(out === '-' ? r.stdout : readFileSync(out), target)).toBe(0);
      }
    } finally {
      closeSync(fd);
    }
    // A pipe cannot be read at random positions: bad usage, as before.
    const piped = runCli(['patch', '-', p('r.delta'), p('never')], basis);
    expect(piped.status).toBe(2);
    expect(piped.stderr.toString()).toContain('BASIS must be a file');
  });

  it('stdin/stdout as rdiff does: a delta and a patch through pipes', () => {
    ensureBuilt();
    const basis = readFileSync(process.execPath).subarray(0, 500_000);
    const target = Buffer.concat([basis.subarray(1000), basis.subarray(0, 1000)]);
    writeFileSync(p('basis'), basis);
    writeFileSync(p('target'), target);
    rdiff('signature', p('basis'), p('r.sig'));
    const d = runCli(['delta', '--format', 'rdiff', p('r.sig'), '-', '-'], target);
    expect(d.status).toBe(0);
    writeFileSync(p('o.delta'), d.stdout);
    rdiff('patch', p('basis'), p('o.delta'), p('r.out'));
    expect(Buffer.compare(readFileSync(p('r.out')), target)).toBe(0);
    rdiff('delta', p('r.sig'), p('target'), p('r.delta'));
    const out = runCli(['patch', p('basis'), '-', '-'], readFileSync(p('r.delta')));
    expect(out.status).toBe(0);
    expect(Buffer.compare(out.stdout, target)).toBe(0);
  });
});
