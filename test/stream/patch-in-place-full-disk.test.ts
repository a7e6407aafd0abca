// An in-place patch on a disk that fills up, for real: a 1 MiB tmpfs (needs root to mount; skipped
// otherwise, saying so, failing under CI=true). Whatever step runs out of space (the stash, a
// journal, the file's own writes), the caller gets ERR_IO saying the state of the file, nothing
// useless is left beside it, and once there is room a rerun finishes the patch.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diff } from '../../src/format/operations.js';
import { patchInPlace } from '../../src/stream/patch-in-place.js';
import { concat, prng } from '../core/_diff-helpers.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

const root = mkdtempSync(join(tmpdir(), 'rolldelta-full-'));
const tmpfs = mountTmpfs('1m');
const disk = tmpfs.dir;

afterAll(() => {
  tmpfs.remove();
  rmSync(root, { recursive: true, force: true });
});

/** A pair that grows the file (200 KB of new bytes), and one of two swapped regions (a copy cycle: a stash). */
const basis = prng(300 << 10, 11);
const grown = concat(basis.subarray(100 << 10), prng(200 << 10, 12), basis.subarray(0, 100 << 10));
const cyclicBasis = prng(400_000, 13);
const swapped = concat(cyclicBasis.subarray(240_000), cyclicBasis.subarray(0, 240_000));
const f = join(disk, 'f');
const deltas: Record<string, string> = {};

beforeAll(() => {
  writeFileSync((deltas.grown = join(root, 'grown.rdelta')), diff(basis, grown, { level: 1 }));
  writeFileSync((deltas.swapped = join(root, 'swapped.rdelta')), diff(cyclicBasis, swapped, { level: 1 }));
});

function fresh(bytes: Uint8Array, fillKiB: number): void {
  for (const name of readdirSync(disk)) rmSync(join(disk, name));
  writeFileSync(f, bytes);
  writeFileSync(join(disk, 'filler'), new Uint8Array(fillKiB << 10));
}

const same = (path: string, want: Uint8Array) => Buffer.compare(readFileSync(path), want) === 0;

/** Runs each pair with the disk filled more and more; returns every failure with what was beside the file. */
async function fillUp(): Promise<{ pair: string; message: string; left: string[]; unchanged: boolean; e: unknown; resumed: boolean; done: boolean }[]> {
  const out = [];
  // Up to what leaves the file just room for itself (1024 KiB less 300 or 400).
  for (const [pair, from, to, most] of [['grown', basis, grown, 720], ['swapped', cyclicBasis, swapped, 620]] as const) {
    for (let fill = 300; fill <= most; fill += 10) {
      fresh(from, fill);
      const e = await patchInPlace(f, deltas[pair]).then(() => undefined, (x: unknown) => x);
      if (e === undefined) continue;
      const left = readdirSync(disk).filter((n) => n !== 'f' && n !== 'filler');
      const unchanged = same(f, from);
      rmSync(join(disk, 'filler'));
      const r = await patchInPlace(f, deltas[pair]);
      out.push({ pair, message: (e as Error).message, left, unchanged, e, resumed: r.resumed, done: same(f, to) });
    }
  }
  return out;
}

let runs: ReturnType<typeof fillUp> | undefined;
const failuresOnce = () => (runs ??= fillUp());

describe.skipIf(tmpfs.peer.skip)(`in-place patch on a full disk ${tmpfs.peer.message}`, () => {
  it('every failure is ERR_IO saying whether the file is unchanged or to be resumed, and a rerun finishes', async () => {
    const failures = await failuresOnce();
    // The stash, a journal and the file's own writes each ran out of space at some fill.
    expect(failures.some((x) => x.message.includes('in-place stash'))).toBe(true);
    expect(failures.some((x) => x.message.includes('in-place journal'))).toBe(true);
    expect(failures.some((x) => x.message.startsWith(`cannot patch in place ${f}`))).toBe(true);
    for (const x of failures) {
      expect(x.e).toMatchObject({ name: 'RolldeltaError', code: 'ERR_IO', message: expect.stringContaining('no space left on the device') });
      expect(x.message).toContain(x.unchanged ? `${f} is unchanged` : `${f} is half patched: run again with the same delta`);
      expect(x.done).toBe(true);
      expect(x.resumed).toBe(!x.unchanged);
    }
  });

  it('leaves nothing beside the file but what a rerun resumes from: no partial stash, no journal copy', async () => {
    const failures = await failuresOnce();
    for (const x of failures) {
      // Unchanged: nothing to resume. Half patched: the journal, and the stash its plan reads.
      const want = x.unchanged ? [] : x.pair === 'swapped' ? ['f.rdjournal', 'f.rdstash'] : ['f.rdjournal'];
      expect(x.left.sort(), x.message).toEqual(want);
    }
  });
});
