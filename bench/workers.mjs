// `npm run bench:workers`: signature of a SIZE_MIB (default 256) file through the built CLI with
// 1 and 2 worker threads, native and rdiff formats, beside librsync's `rdiff signature` in the same
// run. Each cell is the best of ROUNDS (default 3) runs; MB/s are 10^6 bytes per wall second.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { have, machine, timeCommand } from './_peers.mjs';

const MiB = 1 << 20;
const mib = Number(process.env.SIZE_MIB ?? 256);
const rounds = Number(process.env.ROUNDS ?? 3);
const dir = join(import.meta.dirname, '.work', 'workers');
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
mkdirSync(dir, { recursive: true });

const basis = join(dir, 'basis');
const fd = openSync(basis, 'w');
const chunk = Buffer.allocUnsafe(MiB);
let s = 0x9e3779b9;
for (let m = 0; m < mib; m++) {
  for (let i = 0; i < MiB; i += 4) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    chunk.writeUInt32LE(s >>> 0, i);
  }
  writeSync(fd, chunk);
}
closeSync(fd);

const bytes = mib * MiB;
const cases = [];
for (const format of ['native', 'rdiff']) {
  for (const workers of [1, 2]) {
    cases.push({ label: `rolldelta ${format}, workers ${workers}`, cmd: process.execPath, args: [cli, 'signature', '--format', format, '--workers', String(workers), basis, join(dir, `${format}-${workers}.sig`)] });
  }
}
if (have('rdiff')) cases.push({ label: 'rdiff (librsync, 1 thread)', cmd: 'rdiff', args: ['-f', 'signature', basis, join(dir, 'rdiff.sig')] });

// Interleave the rounds so that load from elsewhere hits every case alike.
const best = new Map();
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const t = timeCommand(c.cmd, c.args);
    const prev = best.get(c.label);
    if (!prev || t.secs < prev.secs) best.set(c.label, t);
  }
}
for (const format of ['native', 'rdiff']) {
  const same = readFileSync(join(dir, `${format}-1.sig`)).equals(readFileSync(join(dir, `${format}-2.sig`)));
  if (!same) throw new Error(`${format}: the 2-worker signature differs from the 1-thread one`);
}
if (have('rdiff') && !readFileSync(join(dir, 'rdiff.sig')).equals(readFileSync(join(dir, 'rdiff-1.sig')))) {
  throw new Error('rolldelta --format rdiff differs from rdiff signature');
}

console.log(`signature of a ${mib} MiB file, best of ${rounds}; ${machine()}`);
console.log('| command | seconds | MB/s | peak RSS |');
console.log('|---|---:|---:|---:|');
for (const c of cases) {
  const t = best.get(c.label);
  console.log(`| ${c.label} | ${t.secs.toFixed(2)} | ${(bytes / 1e6 / t.secs).toFixed(0)} | ${t.rssMiB.toFixed(0)} MiB |`);
}
rmSync(dir, { recursive: true, force: true });
