// `npm run bench:in-place`: in-place patching of the size corpus (bench/corpus.mjs). For each pair:
// the delta plain, with `--in-place` (the device may save up to 256 KiB aside to break copy
// cycles; growth must stay under 5%) and with `--in-place --in-place-stash 0` (every cycle sent as
// literals: what that costs), then `rolldelta patch --in-place` of both on a copy of the basis
// while the journal, its temporary copy and the stash are watched every 2 ms (extra disk must stay
// under 1 MB), each result compared with the target; the in-place delta's patch to a new file and
// in place, timed with their peak RSS. Writes bench/results/in-place.md.
// Env: BENCH_LEVEL (default 9), BENCH_REPEAT (timed runs, fastest kept; default 3), BENCH_ONLY.
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildCorpus } from './corpus.mjs';
import { have, machine, timeCommand } from './_peers.mjs';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const work = join(import.meta.dirname, '.work', 'in-place');
const level = String(process.env.BENCH_LEVEL ?? 9);
/** Runs of each timed patch; the fastest is kept (this machine's timings vary by ±15%). */
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
mkdirSync(work, { recursive: true });

const sizeOf = (p) => {
  try {
    return statSync(p).size;
  } catch {
    return 0; // not there (yet, or any more)
  }
};
const run = (args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`rolldelta ${args.join(' ')}: ${r.stderr}`);
};

const useTime = have('/usr/bin/time');

/**
 * Runs the in-place patch, sampling the side files' total size; returns the largest seen, the
 * wall seconds and the peak RSS in MiB (NaN without /usr/bin/time).
 */
function patchWatching(file, delta) {
  return new Promise((resolve, reject) => {
    let peak = 0;
    const side = [`${file}.rdjournal`, `${file}.rdjournal.tmp`, `${file}.rdstash`];
    const timer = setInterval(() => (peak = Math.max(peak, side.reduce((a, p) => a + sizeOf(p), 0))), 2);
    const rssFile = join(work, 'rss');
    const args = [cli, 'patch', '--in-place', file, delta];
    const t0 = process.hrtime.bigint();
    const child = useTime ? spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, ...args], { stdio: 'inherit' }) : spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('exit', (code) => {
      clearInterval(timer);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code === 0) resolve({ peak, secs, rssMiB: useTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 : NaN });
      else reject(new Error(`patch --in-place exited ${code}`));
    });
  });
}

const pairs = await buildCorpus();
const rows = [];
for (const pair of pairs) {
  if (only && !only.has(pair.name)) continue;
  const plain = join(work, `${pair.name}.delta`);
  const ip = join(work, `${pair.name}.ip.delta`);
  const strict = join(work, `${pair.name}.ip0.delta`);
  run(['diff', '--level', level, pair.basis, pair.target, plain]);
  run(['diff', '--level', level, '--in-place', pair.basis, pair.target, ip]);
  run(['diff', '--level', level, '--in-place', '--in-place-stash', '0', pair.basis, pair.target, strict]);
  const file = join(work, `${pair.name}.file`);
  let peak = 0;
  let ok = true;
  let inPlace;
  // The in-place delta REPEAT times (the fastest run is kept), then the strict one once.
  for (const d of [...Array(REPEAT).fill(ip), strict]) {
    // A journal left by an interrupted earlier run would resume on the fresh copy: start clean.
    for (const side of ['.rdjournal', '.rdjournal.tmp', '.rdstash']) rmSync(file + side, { force: true });
    copyFileSync(pair.basis, file);
    const r = await patchWatching(file, d);
    if (d === ip && (!inPlace || r.secs < inPlace.secs)) inPlace = r;
    peak = Math.max(peak, r.peak);
    ok &&= spawnSync('cmp', ['-s', file, pair.target]).status === 0;
  }
  // The same delta patched to a new file, for the cost of patching in place.
  const out = join(work, `${pair.name}.out`);
  let toFile;
  for (let i = 0; i < REPEAT; i++) {
    const r = timeCommand(process.execPath, [cli, 'patch', pair.basis, ip, out]);
    if (!toFile || r.secs < toFile.secs) toFile = r;
  }
  ok &&= spawnSync('cmp', ['-s', out, pair.target]).status === 0;
  rmSync(out, { force: true });
  const growth = sizeOf(ip) / sizeOf(plain) - 1;
  const strictGrowth = sizeOf(strict) / sizeOf(plain) - 1;
  rows.push({ name: pair.name, plain: sizeOf(plain), ip: sizeOf(ip), growth, strict: sizeOf(strict), strictGrowth, peak, ok, toFile, inPlace });
  console.log(`${pair.name}: delta ${sizeOf(plain)} B, in-place ${sizeOf(ip)} B (${pct(growth)}), no stash ${sizeOf(strict)} B (${pct(strictGrowth)}), side files peak ${peak} B, ${ok ? 'exact' : 'WRONG'}`);
}
function pct(x) {
  return `${(x * 100).toFixed(2)}%`;
}
const n = (v) => v.toLocaleString('en-US');
const cost = (c) => `${c.secs.toFixed(2)} s · ${Number.isFinite(c.rssMiB) ? `${c.rssMiB.toFixed(1)} MiB` : 'RSS not measured'}`;
const lines = [
  '# In-place patching (`npm run bench:in-place`)',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}, level ${level}. "Side files" is the largest total size of`,
  'the journal, its temporary copy and the stash seen while `rolldelta patch --in-place` ran (sampled every 2 ms).',
  `The last two columns apply the \`--in-place\` delta to a new file and in place: wall seconds and peak RSS (fastest of ${REPEAT} runs).`,
  '',
  '| pair | delta | `--in-place` (growth) | `--in-place-stash 0` (growth) | side files (peak) | result | patch to a new file | patch in place |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.name} | ${n(r.plain)} | ${n(r.ip)} (${pct(r.growth)}) | ${n(r.strict)} (${pct(r.strictGrowth)}) | ${n(r.peak)} B | ${r.ok ? 'exact' : 'WRONG'} | ${cost(r.toFile)} | ${cost(r.inPlace)} |`),
  '',
  `    ${rows.every((r) => r.growth < 0.05) ? 'PASS' : 'FAIL'} growth: the in-place delta is less than 5% larger on every pair`,
  `    ${rows.every((r) => r.peak < 1e6) ? 'PASS' : 'FAIL'} disk: side files stay under 1 MB on every pair`,
  `    ${rows.every((r) => r.ok) ? 'PASS' : 'FAIL'} result: every file patched in place equals its target (both deltas)`,
];
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'in-place.md'), lines.join('\n') + '\n');
console.log(lines.slice(-3).join('\n'));
