/**
 * Crash safety of `rolldelta patch`, with real SIGKILLs of a real child process at random moments:
 * afterwards the output path holds nothing or the complete target, the basis is untouched, and
 * running the command again completes. Sized by
 *   KILL_POINTS   kills per variant (default 8: the pass CI runs)
 *   KILL_SIZE_MB  size of the file patched (default 16)
 *   KILL_SEED     seed of the kill moments
 * `npm run killtest` runs 200 kill points on 100 MB.
 * Also `rolldelta patch --in-place`: after a kill the file is the basis (nothing written yet, and
 * then no journal says otherwise) or the run resumes from its journal to the target.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, ensureBuilt, runCli } from '../helpers/cli.js';

const POINTS = Number(process.env.KILL_POINTS ?? 8);
const SIZE = Number(process.env.KILL_SIZE_MB ?? 16) * 2 ** 20;
let seed = Number(process.env.KILL_SEED ?? 7);

let dir = '';
const p = (name: string) => join(dir, name);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
let targetSha = '';
let basisSha = '';
let piecesSha = '';

function random(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
}

/** A basis of text-like and random blocks, and a target with scattered edits and a moved region. */
function makeFiles(): void {
  const basis = Buffer.allocUnsafe(SIZE);
  let s = 0x12345678;
  for (let i = 0; i < SIZE; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    basis.writeUInt32LE(s >>> 0, i);
  }
  const target = Buffer.concat([basis.subarray(SIZE / 2, SIZE / 2 + SIZE / 8), basis.subarray(0, SIZE / 2), Buffer.from('inserted release notes\n'.repeat(2000)), basis.subarray(SIZE / 2 + SIZE / 8)]);
  for (let i = 0; i < target.length; i += 1 << 20) target[i] ^= 0x55;
  writeFileSync(p('basis'), basis);
  writeFileSync(p('target'), target);
  // Two 8 KiB regions swapped (a copy cycle: one piece saved aside) and a line inserted every
  // 64 KiB (the cuts cascade through every shifted copy: thousands of small pieces, moved in
  // write-ahead batches, and copies over their own source).
  const parts = [basis.subarray(16384, 24576), basis.subarray(8192, 16384), basis.subarray(0, 8192)];
  for (let at = 24576; at < SIZE; at += 65536) parts.push(Buffer.from(`inserted line ${at}\n`), basis.subarray(at, Math.min(SIZE, at + 65536)));
  writeFileSync(p('target-pieces'), Buffer.concat(parts));
}

/** Runs the CLI and SIGKILLs it after `ms` (or lets it finish first); resolves when it exited. */
function runAndKill(args: string[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Temporary files a killed writer leaves behind (never under the final name). */
function removeTemporaries(): void {
  for (const f of readdirSync(dir)) if (f.endsWith('.tmp')) unlinkSync(p(f));
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'rolldelta-kill-'));
  makeFiles();
  basisSha = sha(p('basis'));
  targetSha = sha(p('target'));
  expect(runCli(['diff', p('basis'), p('target'), p('delta')]).status).toBe(0);
  expect(runCli(['diff', '--in-place', p('basis'), p('target'), p('delta-ip')]).status).toBe(0);
  piecesSha = sha(p('target-pieces'));
  expect(runCli(['diff', '--in-place', p('basis'), p('target-pieces'), p('delta-pieces')]).status).toBe(0);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** How long one patch takes here, so kill moments spread over the whole run. */
async function duration(args: string[]): Promise<number> {
  const t = performance.now();
  await runAndKill(args, 600_000);
  return performance.now() - t;
}

describe(`SIGKILL during patch (${POINTS} kill points, ${SIZE >> 20} MiB)`, () => {
  it('to a new path: the output is absent or the verified target, the basis untouched, a rerun completes', async () => {
    const args = ['patch', p('basis'), p('delta'), p('out')];
    const full = await duration(args);
    expect(sha(p('out'))).toBe(targetSha);
    let killedMidway = 0;
    for (let k = 0; k < POINTS; k++) {
      rmSync(p('out'), { force: true });
      await runAndKill(args, random() * full * 1.1);
      if (existsSync(p('out'))) expect(sha(p('out')), `kill point ${k}`).toBe(targetSha);
      else killedMidway++;
      expect(sha(p('basis'))).toBe(basisSha);
      removeTemporaries();
      expect(runCli(args).status).toBe(0);
      expect(sha(p('out'))).toBe(targetSha);
    }
    // Most kill moments fall inside the run: the test exercises interrupted writes.
    if (POINTS >= 8) expect(killedMidway).toBeGreaterThan(0);
  }, 1_800_000);

  it('over the basis itself: the file is the old basis or the new target, never a mix', async () => {
    copyFileSync(p('basis'), p('inplace'));
    const args = ['patch', p('inplace'), p('delta'), p('inplace')];
    const full = await duration(args);
    expect(sha(p('inplace'))).toBe(targetSha);
    for (let k = 0; k < POINTS; k++) {
      copyFileSync(p('basis'), p('inplace'));
      await runAndKill(args, random() * full * 1.1);
      const now = sha(p('inplace'));
      expect([basisSha, targetSha], `kill point ${k}`).toContain(now);
      removeTemporaries();
      if (now === basisSha) expect(runCli(args).status).toBe(0);
      expect(sha(p('inplace'))).toBe(targetSha);
    }
  }, 1_800_000);

  it.each([
    ['a moved region', 'delta-ip', () => targetSha],
    ['copies cut into pieces, one saved aside', 'delta-pieces', () => piecesSha],
  ])('in place (%s): after a kill the file is untouched or resumes from its journal, and a rerun completes', async (_, delta, wanted) => {
    const targetSha = wanted();
    copyFileSync(p('basis'), p('ip'));
    const args = ['patch', '--in-place', p('ip'), p(delta)];
    const full = await duration(args);
    expect(sha(p('ip'))).toBe(targetSha);
    let interrupted = 0;
    for (let k = 0; k < POINTS; k++) {
      copyFileSync(p('basis'), p('ip'));
      await runAndKill(args, random() * full * 1.1);
      const journal = existsSync(p('ip.rdjournal'));
      const now = sha(p('ip'));
      if (!journal) expect([basisSha, targetSha], `kill point ${k}`).toContain(now);
      if (journal || now === basisSha) {
        interrupted++;
        const rerun = runCli(args);
        expect(rerun.status, `kill point ${k}: rerun: ${rerun.stderr.toString()}`).toBe(0);
      }
      expect(sha(p('ip')), `kill point ${k}`).toBe(targetSha);
      expect(existsSync(p('ip.rdjournal'))).toBe(false);
    }
    if (POINTS >= 8) expect(interrupted).toBeGreaterThan(0);
  }, 1_800_000);
});
