// `npm run bench`: throughput of signature, delta and patch on a 256 MiB input with 1% scattered
// edits, beside rdiff run on the same files in the same run. Ratios > 1 mean rolldelta is faster.
// Size: BENCH_MIB (default 256).
import { mkdirSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { deltaFile, patchFile, signatureFile } from '../dist/index.js';
import { have, machine, timeAsync, timeCommand } from './_peers.mjs';

const MiB = 1 << 20;
const size = Number(process.env.BENCH_MIB ?? 256) * MiB;
const dir = join(import.meta.dirname, '.work');
mkdirSync(dir, { recursive: true });

function makeInputs() {
  // Pseudo-random basis (xorshift), then about 1% of its bytes changed in scattered edits:
  // substitutions, insertions and deletions of 1-2048 bytes every ~100 KiB on average.
  const basis = Buffer.allocUnsafe(size);
  let s = 0x9e3779b9;
  for (let i = 0; i < size; i += 4) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    basis.writeUInt32LE(s >>> 0, i);
  }
  const parts = [];
  let pos = 0;
  let edited = 0;
  while (pos < size) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const gap = ((s >>> 0) % 200_000) + 64;
    const len = ((s >>> 16) % 2048) + 1;
    const end = Math.min(pos + gap, size);
    parts.push(basis.subarray(pos, end));
    pos = end;
    const kind = (s >>> 8) % 3;
    const fresh = Buffer.alloc(len, (s >>> 4) & 0xff);
    if (kind !== 2) parts.push(fresh); // substitution or insertion
    if (kind !== 1) pos += len; // substitution or deletion skips basis bytes
    edited += len;
  }
  writeFileSync(join(dir, 'basis.bin'), basis);
  writeFileSync(join(dir, 'target.bin'), Buffer.concat(parts));
  return edited / size;
}

const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
const mbps = (secs) => size / 1e6 / secs;
const f = (n) => n.toFixed(1).padStart(8);

const editRatio = makeInputs();
const B = join(dir, 'basis.bin');
const T = join(dir, 'target.bin');
console.log(`input: ${size / MiB} MiB, ${(editRatio * 100).toFixed(2)}% of bytes edited in scattered spots; ${machine()}\n`);

const rows = [];
const sig = await timeAsync(() => signatureFile(B, join(dir, 'rd.sig')));
const del = await timeAsync(() => deltaFile(join(dir, 'rd.sig'), T, join(dir, 'rd.delta')));
const pat = await timeAsync(() => patchFile(B, join(dir, 'rd.delta'), join(dir, 'rd.out')));
if (sha(join(dir, 'rd.out')) !== sha(T)) throw new Error('rolldelta patch did not rebuild the target');
rows.push(['signature', sig.secs], ['delta', del.secs], ['patch', pat.secs]);

let peer;
if (have('rdiff')) {
  const s = timeCommand('rdiff', ['-f', 'signature', B, join(dir, 'r.sig')]);
  const d = timeCommand('rdiff', ['-f', 'delta', join(dir, 'r.sig'), T, join(dir, 'r.delta')]);
  const p = timeCommand('rdiff', ['-f', 'patch', B, join(dir, 'r.delta'), join(dir, 'r.out')]);
  peer = { signature: s.secs, delta: d.secs, patch: p.secs };
} else {
  console.log('rdiff is not installed (Debian package rdiff): no ratios\n');
}

console.log('operation      rolldelta MB/s   rdiff MB/s   ratio (x rdiff speed)');
for (const [name, secs] of rows) {
  const p = peer?.[name];
  console.log(`${name.padEnd(14)} ${f(mbps(secs))}      ${p ? f(mbps(p)) : '       -'}     ${p ? (p / secs).toFixed(2) : '-'}`);
}
console.log(`\ndelta sizes: rolldelta ${statSync(join(dir, 'rd.delta')).size} bytes` + (peer ? `, rdiff ${statSync(join(dir, 'r.delta')).size} bytes` : ''));
