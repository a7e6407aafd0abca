// Reads files made by the real `rdiff` and has `rdiff patch` apply a delta our encoder wrote.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OpCollector, type Op } from '../../src/core/ops.js';
import { peer } from '../helpers/peers.js';
import { RdiffDeltaDecoder } from '../../src/format/rdiff-delta-decoder.js';
import { RdiffDeltaEncoder } from '../../src/format/rdiff-delta-encoder.js';
import { decodeRdiffSignature, encodeRdiffSignature } from '../../src/format/rdiff-signature.js';
import { applyOps, cat, cuts, pushAll, replay } from './_helpers.js';
import { noise } from '../helpers/noise.js';

// Missing rdiff: skipped with a message on a developer machine, a failure in CI.
const present = !peer('rdiff', 'rdiff').skip;

const dir = present ? mkdtempSync(join(tmpdir(), 'rolldelta-format-')) : '';
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const p = (n: string) => join(dir, n);
const rdiff = (...args: string[]) => execFileSync('rdiff', ['-f', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });

describe.skipIf(!present)('rdiff-made files', () => {
  const basis = noise(50000, 7);
  const target = cat(basis.subarray(1000, 20000), noise(3000, 9), basis.subarray(0, 900), basis.subarray(30000));

  it('decodes rdiff signatures of every kind, and re-encodes them byte for byte', () => {
    writeFileSync(p('basis'), basis);
    for (const [H, R, hash, rollsum] of [
      ['blake2', 'rabinkarp', 'blake2b', 'rabinkarp'],
      ['md4', 'rollsum', 'md4', 'rollsum'],
      ['blake2', 'rollsum', 'blake2b', 'rollsum'],
      ['md4', 'rabinkarp', 'md4', 'rabinkarp'],
    ] as const) {
      rdiff('-H', H, '-R', R, '-b', '700', '-S', '12', 'signature', p('basis'), p('sig'));
      const bytes = new Uint8Array(readFileSync(p('sig')));
      const sig = decodeRdiffSignature(bytes);
      expect(sig).toMatchObject({ hash, rollsum, blockLength: 700, strongLength: 12, blockCount: Math.ceil(basis.length / 700) });
      expect(sig.basisLength).toBeUndefined();
      expect(encodeRdiffSignature(sig)).toEqual(bytes);
    }
  });

  it('decodes an rdiff delta (in any chunking) into ops that rebuild the target', () => {
    writeFileSync(p('basis'), basis);
    writeFileSync(p('target'), target);
    rdiff('-b', '256', 'signature', p('basis'), p('sig'));
    rdiff('delta', p('sig'), p('target'), p('delta'));
    const bytes = new Uint8Array(readFileSync(p('delta')));
    for (const fr of [[], [0.1, 0.5, 0.51], [0.001, 0.999]]) {
      const sink = new OpCollector();
      pushAll(new RdiffDeltaDecoder(sink), cuts(bytes, fr));
      const ops = sink.finish();
      expect(ops.some((o) => o.type === 'copy')).toBe(true);
      expect(applyOps(basis, ops)).toEqual(target);
    }
  });

  it('rdiff patch applies a delta our encoder wrote from a hand-made op list', () => {
    const ops: Op[] = [
      { type: 'copy', offset: 1000, length: 19000 },
      { type: 'literal', data: noise(70000, 3) },
      { type: 'copy', offset: 0, length: 1 },
      { type: 'copy', offset: 49999, length: 1 },
      { type: 'literal', data: Uint8Array.of(1, 2, 3) },
      { type: 'copy', offset: 300, length: 40000 },
    ];
    const chunks: Uint8Array[] = [];
    const enc = new RdiffDeltaEncoder((c) => chunks.push(c));
    replay(ops, enc);
    enc.finish();
    writeFileSync(p('basis'), basis);
    writeFileSync(p('ours.delta'), cat(...chunks));
    rdiff('patch', p('basis'), p('ours.delta'), p('out'));
    expect(new Uint8Array(readFileSync(p('out')))).toEqual(applyOps(basis, ops));
  });
});
