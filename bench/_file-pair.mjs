// The file pair of the throughput bench: a basis of mixed content and a target made from it by
// moving a few regions and by ~1% of scattered edits (substitutions, insertions, deletions).
// Both are written to disk in 1 MiB pieces (a 1 GiB pair never sits in memory) and kept between
// runs: a stamp file names the generator version and size.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fillBlock, next, seedOf } from './_content.mjs';

const MiB = 1 << 20;
const VERSION = 'file-pair v2';
const BLOCK = 64 << 10; // one content kind per 64 KiB

/**
 * Makes (or reuses) `basis.bin` and `target.bin` of `mib` MiB in `dir`.
 * @returns {{ basis: string, target: string, basisBytes: number, targetBytes: number, editedBytes: number, moves: number }}
 */
export function filePair(dir, mib) {
  mkdirSync(dir, { recursive: true });
  const basis = join(dir, 'basis.bin');
  const target = join(dir, 'target.bin');
  const stamp = join(dir, 'stamp.json');
  if (existsSync(stamp)) {
    const info = JSON.parse(readFileSync(stamp, 'utf8'));
    if (info.version === VERSION && info.mib === mib && existsSync(basis) && existsSync(target)) return { basis, target, ...info };
  }
  const size = mib * MiB;
  writeBasis(basis, size);
  const info = { version: VERSION, mib, basisBytes: size, ...writeTarget(basis, target, size) };
  writeFileSync(stamp, JSON.stringify(info));
  return { basis, target, ...info };
}

function writeBasis(path, size) {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(MiB);
  for (let off = 0; off < size; off += MiB) {
    for (let b = 0; b < MiB; b += BLOCK) fillBlock(buf.subarray(b, b + BLOCK), seedOf(0xba515, off + b));
    writeSync(fd, buf, 0, Math.min(MiB, size - off));
  }
  closeSync(fd);
}

/**
 * The basis cut into 16 pieces with two pairs swapped (regions moved by up to half the file),
 * then streamed through an editor: every 64-200,000 bytes (about 100 KiB apart) an edit of 1-2048
 * bytes, a third each substitution, insertion and deletion.
 */
function writeTarget(basisPath, path, size) {
  const piece = size / 16;
  const order = [0, 1, 2, 11, 4, 5, 6, 7, 8, 9, 10, 3, 12, 14, 13, 15];
  const src = openSync(basisPath, 'r');
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(MiB);
  const fresh = Buffer.allocUnsafe(2048);
  let s = 0x9e3779b9;
  let untilEdit = 64;
  let skip = 0; // basis bytes a substitution or deletion still drops
  let edited = 0;
  let edits = 0;
  let written = 0;
  for (const p of order) {
    for (let off = p * piece, end = (p + 1) * piece; off < end; ) {
      const n = readSync(src, buf, 0, Math.min(MiB, end - off), off);
      off += n;
      let i = 0;
      while (i < n) {
        if (skip > 0) {
          const d = Math.min(skip, n - i);
          skip -= d;
          i += d;
          continue;
        }
        const run = Math.min(untilEdit, n - i);
        writeSync(fd, buf, i, run);
        written += run;
        i += run;
        untilEdit -= run;
        if (untilEdit > 0) break;
        s = next(s);
        const len = (s % 2048) + 1;
        const kind = (s >>> 11) % 3;
        s = next(s);
        untilEdit = (s % 200_000) + 64;
        if (kind !== 2) {
          // Its own seed: content drawn from the editor's stream would repeat from one edit to the
          // next (shifted by two draws), and zstd's window would find every insertion in the last.
          fillBlock(fresh.subarray(0, len), seedOf(0xed17, edits));
          writeSync(fd, fresh, 0, len);
          written += len;
        }
        if (kind !== 1) skip = len;
        edited += len;
        edits++;
      }
    }
  }
  closeSync(src);
  closeSync(fd);
  return { targetBytes: written, editedBytes: edited, moves: 2 };
}
