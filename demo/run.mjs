// The README's main command: make an old and a new version of a file, compute deltas both ways
// (rsync model from a signature, two-sided diff), apply them, verify, and print what was saved;
// then, where a Docker Engine can run, the whole image update (demo/docker-update.mjs).
// The file sample is generated here, deterministically, so it runs on any machine with Node.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { delta, diff, patch, signature } from '../dist/index.js';
import { dockerDemo, dockerDemoUnavailable } from './docker-update.mjs';

const MiB = 1 << 20;

/** Deterministic PRNG (xorshift32) so every run shows the same numbers. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** An app-like bundle: source-like text files and some binary assets, about `size` bytes. */
function makeBundle(size, seed) {
  const rand = rng(seed);
  const words = ['const', 'function', 'return', 'await', 'import', 'export', 'value', 'delta', 'image', 'layer', 'device', 'server', 'update', 'buffer', 'length', '=>', '{', '}', '(', ')', ';', 'if', 'else', 'for', 'let'];
  const out = new Uint8Array(size);
  let o = 0;
  while (o < size) {
    if (rand() < 0.8) {
      let line = '';
      const n = 3 + Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) line += words[Math.floor(rand() * words.length)] + ' ';
      const bytes = Buffer.from(line + '\n');
      out.set(bytes.subarray(0, Math.min(bytes.length, size - o)), o);
      o += bytes.length;
    } else {
      const n = Math.min(256 + Math.floor(rand() * 4096), size - o);
      for (let i = 0; i < n; i++) out[o + i] = Math.floor(rand() * 256);
      o += n;
    }
  }
  return out;
}

/** A release: a few edits, an inserted block and a moved region, as a rebuild would make. */
function nextRelease(old) {
  const rand = rng(7);
  const parts = [];
  const cut = Math.floor(old.length * 0.6);
  parts.push(old.subarray(0, cut));
  parts.push(Buffer.from('// new feature\nexport function retry(update) { return update.again(); }\n'.repeat(40)));
  parts.push(old.subarray(cut + 5000, old.length));
  const next = Buffer.concat(parts);
  for (let i = 0; i < 20; i++) next[Math.floor(rand() * next.length)] ^= 0x20;
  // Move the first 256 KiB to the end, as a reordered archive would.
  return Buffer.concat([next.subarray(256 * 1024), next.subarray(0, 256 * 1024)]);
}

const sha = (b) => createHash('sha256').update(b).digest('hex');
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

const oldVersion = makeBundle(8 * MiB, 1);
const newVersion = nextRelease(oldVersion);
const fullDownload = gzipSync(newVersion, { level: 9 }).length;
console.log(`old version: ${kib(oldVersion.length)}; new version: ${kib(newVersion.length)} (gzip -9: ${kib(fullDownload)})\n`);

let ok = true;
function report(name, deltaBytes, extra = 0) {
  const rebuilt = patch(oldVersion, deltaBytes);
  const good = sha(rebuilt) === sha(newVersion);
  ok &&= good;
  const moved = deltaBytes.length + extra;
  console.log(`${name.padEnd(34)} ${kib(moved).padStart(11)}  ${(fullDownload / moved).toFixed(1).padStart(6)}x smaller than the gzip download  ${good ? 'verified' : 'MISMATCH'}`);
}

// rsync model: the device sends a signature of what it has, the server answers with a delta.
const sig = signature(oldVersion);
report('rsync mode (signature + delta)', delta(sig, newVersion), sig.length);
console.log(`${''.padEnd(34)} (of which the signature upload: ${kib(sig.length)})`);
// Two-sided: the server holds both versions.
report('two-sided diff', diff(oldVersion, newVersion, { level: 9 }));
// librsync compatibility: the same exchange in rdiff's formats.
const rsig = signature(oldVersion, { format: 'rdiff' });
report('rdiff format (signature + delta)', delta(rsig, newVersion, { format: 'rdiff' }), rsig.length);

console.log(ok ? '\nevery delta rebuilt the new version exactly (SHA-256 verified)' : '\nFAILED: a delta did not rebuild the new version');

// The whole image update, when a Docker Engine can run here.
const why = dockerDemoUnavailable();
if (why) {
  console.log(`\n(the image-update demo needs a Docker Engine: ${why})`);
} else {
  console.log('\nimage update on a private Docker Engine:');
  ok = (await dockerDemo()) && ok;
}
process.exitCode = ok ? 0 : 1;
