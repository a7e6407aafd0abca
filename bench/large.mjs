// `npm run bench:large`: the foundation's large-file acceptance checks through the built CLI:
// a round trip of a SIZE_MIB file (default 200) byte-exactly, and the peak RSS of patching a
// PATCH_MIB target (default 1024) from a file basis (must stay under 100 MB).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { measuredEnv } from './_peers.mjs';

const MiB = 1 << 20;
const dir = join(import.meta.dirname, '.work', 'large');
const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
mkdirSync(dir, { recursive: true });

/** Writes a pseudo-random file and an edited copy (a few insertions, substitutions, a moved block). */
function makePair(mib, name) {
  const basis = join(dir, `${name}.old`);
  const target = join(dir, `${name}.new`);
  const a = openSync(basis, 'w');
  const b = openSync(target, 'w');
  let s = 0x12345678 ^ mib;
  const chunk = Buffer.allocUnsafe(MiB);
  for (let m = 0; m < mib; m++) {
    for (let i = 0; i < MiB; i += 4) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      chunk.writeUInt32LE(s >>> 0, i);
    }
    writeSync(a, chunk);
    if (m % 97 === 13) writeSync(b, Buffer.from(`inserted at MiB ${m}\n`));
    if (m % 101 === 7) chunk.fill(0x55, 1000, 3000);
    writeSync(b, chunk);
  }
  closeSync(a);
  closeSync(b);
  return { basis, target };
}

function run(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M %e', process.execPath, cli, ...args], { encoding: 'utf8', env: measuredEnv() });
  if (r.status !== 0) throw new Error(`rolldelta ${args.join(' ')} failed: ${r.stderr}`);
  const [rssKb, secs] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { rssMiB: rssKb / 1024, secs };
}

async function sha(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: MiB })) h.update(c);
  return h.digest('hex');
}

let ok = true;
for (const [label, mib] of [['round trip', Number(process.env.SIZE_MIB ?? 200)], ['patch memory', Number(process.env.PATCH_MIB ?? 1024)]]) {
  const { basis, target } = makePair(mib, `f${mib}`);
  const sig = run(['signature', basis, join(dir, 'sig')]);
  const del = run(['delta', join(dir, 'sig'), target, join(dir, 'delta')]);
  const pat = run(['patch', basis, join(dir, 'delta'), join(dir, 'out')]);
  const same = (await sha(join(dir, 'out'))) === (await sha(target));
  const rssOk = pat.rssMiB < 100;
  ok &&= same && (label !== 'patch memory' || rssOk);
  console.log(
    `${label}: ${mib} MiB target; signature ${sig.secs}s (${sig.rssMiB.toFixed(0)} MiB RSS), delta ${del.secs}s (${del.rssMiB.toFixed(0)} MiB), ` +
      `patch ${pat.secs}s (${pat.rssMiB.toFixed(0)} MiB RSS${label === 'patch memory' ? (rssOk ? ', under 100 MB' : ', OVER 100 MB') : ''}); ` +
      `${same ? 'byte-exact' : 'MISMATCH'}`,
  );
  rmSync(basis);
  rmSync(target);
}
rmSync(dir, { recursive: true, force: true });
process.exitCode = ok ? 0 : 1;
