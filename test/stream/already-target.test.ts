// Patching a file over itself twice (a device retrying after a crash that came after the rename)
// finds the file already is the target: nothing to do, not a basis mismatch.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delta, diff, patchFile, signature } from '../../src/index.js';
import { isAlreadyTarget } from '../../src/stream/already-target.js';
import { concat, prng } from '../core/_diff-helpers.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-again-'));
const p = (n: string) => join(dir, n);
beforeAll(() => ensureBuilt(), 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const basis = prng(300_000, 1);
// Same length as the basis (so a second run gets as far as the target check), halves swapped (so
// the delta applied to the target does not make the target again).
const target = concat(basis.subarray(150_000), prng(1000, 2), basis.subarray(1000, 150_000));
const native = diff(basis, target, { level: 6 });

describe('a patch run again after it finished', () => {
  it('over the basis: nothing to do, the file stays the target, nothing left beside it', async () => {
    writeFileSync(p('f.bin'), basis);
    writeFileSync(p('d.rdelta'), native);
    expect((await patchFile(p('f.bin'), p('d.rdelta'), p('f.bin'))).alreadyTarget).toBeUndefined();
    const again = await patchFile(p('f.bin'), p('d.rdelta'), p('f.bin'));
    expect(again).toMatchObject({ alreadyTarget: true, bytesOut: target.length });
    expect(Buffer.compare(readFileSync(p('f.bin')), target)).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('to another path, a basis that is the target is still the wrong basis', async () => {
    writeFileSync(p('g.bin'), target);
    await expect(patchFile(p('g.bin'), p('d.rdelta'), p('g-out.bin'))).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
  });

  it('a basis that is neither the basis nor the target is still ERR_BASIS_MISMATCH', async () => {
    writeFileSync(p('h.bin'), prng(300_000, 9));
    await expect(patchFile(p('h.bin'), p('d.rdelta'), p('h-out.bin'))).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
  });

  it('reads the promise from the trailer only: a cut delta, an rdiff delta promise nothing', async () => {
    writeFileSync(p('t.bin'), target);
    expect(await isAlreadyTarget(p('t.bin'), p('d.rdelta'))).toBe(true);
    writeFileSync(p('cut.rdelta'), native.subarray(0, native.length - 1));
    expect(await isAlreadyTarget(p('t.bin'), p('cut.rdelta'))).toBe(false);
    writeFileSync(p('r.delta'), delta(signature(basis, { format: 'rdiff' }), target, { format: 'rdiff' }));
    expect(await isAlreadyTarget(p('t.bin'), p('r.delta'))).toBe(false);
    expect(await isAlreadyTarget(p('missing.bin'), p('d.rdelta'))).toBe(false);
  });

  it('rolldelta patch F DELTA F twice: the second says there is nothing to do and exits 0', () => {
    writeFileSync(p('c.bin'), basis);
    expect(runCli(['patch', p('c.bin'), p('d.rdelta'), p('c.bin')]).status).toBe(0);
    const r = runCli(['patch', p('c.bin'), p('d.rdelta'), p('c.bin')]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stderr.toString()).toMatch(/already is the target of this delta/);
    expect(Buffer.compare(readFileSync(p('c.bin')), target)).toBe(0);
  });

  it('rolldelta patch --in-place F DELTA twice: the second says there is nothing to do and exits 0', () => {
    writeFileSync(p('ip.bin'), basis);
    expect(runCli(['patch', '--in-place', p('ip.bin'), p('d.rdelta')]).status).toBe(0);
    const r = runCli(['patch', '--in-place', p('ip.bin'), p('d.rdelta')]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stderr.toString()).toMatch(/ip\.bin already is the target of this delta \(patched before\): nothing to do/);
    expect(Buffer.compare(readFileSync(p('ip.bin')), target)).toBe(0);
  });
});
