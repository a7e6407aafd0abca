// `npm run bench:image`: realistic image pairs built with a private Docker Engine — a Debian base
// (debootstrap minbase) and an npm application on top — and, for each pair, what `docker pull`
// would move, rolldelta's image delta, `zstd --patch-from` (-3 and -19) and rdiff+gzip on the two
// saved archives. Needs root, dockerd and debootstrap; writes bench/results/image.md.
// BENCH_IMAGE_ZSTD19=0 skips zstd -19 (the slowest column).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { diffImages } from '../dist/index.js';
import { buildCorpus, CORPUS_DIR } from './corpus.mjs';
import { privateEngineUnavailable, startPrivateEngine } from './_dockerd.mjs';
import { have, machine, runTimed } from './_peers.mjs';

const why = privateEngineUnavailable() ?? (have('debootstrap') ? undefined : 'debootstrap is not installed (apt-get install debootstrap)');
if (why) {
  console.log(`bench:image needs a Docker Engine and a Debian base: ${why}`);
  process.exit(0);
}

const work = join(import.meta.dirname, '.work', 'image');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const MiB = 1 << 20;
const tarOf = (dir) => execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });

/** Sets every mtime under `dir` to `t` (a rebuild or a fresh checkout). */
function touchAll(dir, t) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) touchAll(p, t);
    if (!e.isSymbolicLink()) utimesSync(p, t, t);
  }
}

// The Debian base, cached across runs.
const rootfs = join(CORPUS_DIR, 'debian-rootfs');
if (!existsSync(join(rootfs, 'bin'))) {
  console.log('building a Debian bookworm base with debootstrap (about 30 s)...');
  execFileSync('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { stdio: 'ignore' });
}
// The app: the size benchmark's npm application tree (node_modules + src), and its one-char edit.
if (!existsSync(join(CORPUS_DIR, 'pairs', 'npm-app', 'basis'))) buildCorpus({ log: () => {} });
const app1 = join(work, 'app1');
const app2 = join(work, 'app2');
for (const [dir, which] of [[app1, 'basis'], [app2, 'target']]) {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-C', dir, '-xf', join(CORPUS_DIR, 'pairs', 'npm-app', which)]);
}
// A Debian package added to the image (files unpacked from its .deb).
const pkg = join(work, 'pkg');
mkdirSync(pkg);
const deb = readdirSync(join(CORPUS_DIR, 'debs')).find((f) => f.startsWith('libssl3_'));
execFileSync('dpkg-deb', ['-x', join(CORPUS_DIR, 'debs', deb), pkg]);

const { engine, socketPath, stop } = await startPrivateEngine();
const rows = [];
try {
  const build = async (tag, files, dockerfile) => {
    const ctx = join(work, `ctx-${tag.replace(/\W/g, '_')}`);
    mkdirSync(ctx, { recursive: true });
    for (const [name, src] of Object.entries(files)) cpSync(src, join(ctx, name), { recursive: true, preserveTimestamps: true });
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    await engine.buildImage(Readable.from([tarOf(ctx)]), tag);
    rmSync(ctx, { recursive: true, force: true });
  };
  const save = async (tag) => {
    const path = join(work, `${tag.replace(/\W/g, '_')}.tar`);
    const { pipeline } = await import('node:stream/promises');
    const { createWriteStream } = await import('node:fs');
    await pipeline(await engine.saveImages([tag]), createWriteStream(path));
    return path;
  };
  const appFile = 'FROM base:1\nCOPY app /app\nCMD ["/app/src/app.js"]\n';
  console.log('importing the base and building the releases...');
  touchAll(rootfs, 1_700_000_000); // the cached rootfs gets new mtimes below: start from the same ones every run
  await engine.importImage(Readable.from([tarOf(rootfs)]), 'base:1');
  await build('app:1', { app: app1 }, appFile);
  await build('app:edit', { app: app2 }, appFile);
  writeFileSync(join(app1, 'src', 'extra.js'), "export const extra = 'a new source file';\n");
  await build('app:newfile', { app: app1 }, appFile);
  rmSync(join(app1, 'src', 'extra.js'));
  await build('app:package', { pkg, app: app1 }, 'FROM base:1\nCOPY pkg /\nCOPY app /app\n');
  // The base rebuilt: the same files with new mtimes, so every layer digest changes.
  touchAll(rootfs, 1_800_000_000);
  await engine.importImage(Readable.from([tarOf(rootfs)]), 'base:2');
  await build('app:rebase', { app: app1 }, appFile.replace('base:1', 'base:2'));
  // Squashed: the app image's filesystem exported and imported as one layer.
  execFileSync('docker', ['-H', `unix://${socketPath}`, 'create', '--name', 'sq', 'app:1', 'true'], { stdio: 'ignore' });
  const flat = execFileSync('docker', ['-H', `unix://${socketPath}`, 'export', 'sq'], { maxBuffer: 1 << 30 });
  await engine.importImage(Readable.from([flat]), 'app:squashed');

  const old = await save('app:1');
  const pairs = [
    ['one-character source edit (mtimes new)', 'app:edit'],
    ['a new source file', 'app:newfile'],
    ['an extra Debian package', 'app:package'],
    ['base rebuilt (same files, new mtimes)', 'app:rebase'],
    ['squashed into one layer', 'app:squashed'],
  ];
  const zstd19 = process.env.BENCH_IMAGE_ZSTD19 !== '0';
  for (const [label, tag] of pairs) {
    const neu = await save(tag);
    const size = statSync(neu).size;
    const long = Math.min(31, Math.max(10, Math.ceil(Math.log2(Math.max(size, statSync(old).size))) + 1));
    // Timed without the pull measurement (diffImages' default, the delta server's); then again, untimed, with it.
    const t0 = process.hrtime.bigint();
    const { deltaBytes } = await diffImages(old, neu, join(work, 'd.rdimg'));
    const rdSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    const { pullBytes } = await diffImages(old, neu, join(work, 'pull-measured.rdimg'), { measurePull: true });
    const zstd = (level) => {
      const r = runTimed('zstd', ['-q', '-f', `-${level}`, ...(level > 19 ? ['--ultra'] : []), `--long=${long}`, '-T2', `--patch-from=${old}`, neu, '-o', join(work, 'z')], { timeoutSecs: 900 });
      return r.ok ? { bytes: statSync(join(work, 'z')).size, secs: r.secs } : undefined;
    };
    const z3 = have('zstd') ? zstd(3) : undefined;
    const z19 = have('zstd') && zstd19 ? zstd(19) : undefined;
    let rdiffGz;
    if (have('rdiff')) {
      execFileSync('rdiff', ['-f', 'signature', old, join(work, 'r.sig')]);
      execFileSync('rdiff', ['-f', 'delta', join(work, 'r.sig'), neu, join(work, 'r.delta')]);
      rdiffGz = Number(execFileSync('sh', ['-c', `gzip -9 -c ${join(work, 'r.delta')} | wc -c`], { encoding: 'utf8' }).trim());
    }
    const bestZstd = Math.min(z3?.bytes ?? Infinity, z19?.bytes ?? Infinity);
    rows.push({ label, size, pull: pullBytes, delta: deltaBytes, rdSecs, z3, z19, rdiffGz, smaller: deltaBytes < bestZstd, ratio: pullBytes / deltaBytes });
    console.log(`${label}: delta ${deltaBytes} B, pull ${pullBytes} B, zstd ${z3?.bytes ?? '-'} / ${z19?.bytes ?? '-'}, rdiff+gz ${rdiffGz ?? '-'}`);
  }
} finally {
  await stop();
}

const n = (v) => (v === undefined ? '—' : v.toLocaleString('en-US'));
const lines = [
  '# Image benchmark (`npm run bench:image`)',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}. Old image: a Debian bookworm base`,
  '(debootstrap minbase) plus an npm application (node_modules of 9 packages and src); sizes in bytes.',
  "rolldelta's seconds are `diffImages` as it runs by default (level 9, one thread, no gzip of the new layers",
  'to measure what a pull would move); the pull column is a second, untimed run with `measurePull: true`.',
  '',
  '| pair | new archive | docker pull | rolldelta image delta (s) | zstd -3 --patch-from (s) | zstd -19 --patch-from (s) | rdiff + gzip | pull / delta | smaller than zstd |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.label} | ${n(r.size)} | ${n(r.pull)} | ${n(r.delta)} (${r.rdSecs.toFixed(1)}) | ${n(r.z3?.bytes)} (${r.z3?.secs.toFixed(1) ?? '—'}) | ${n(r.z19?.bytes)} (${r.z19?.secs.toFixed(1) ?? '—'}) | ${n(r.rdiffGz)} | ${r.ratio.toFixed(0)}x | ${r.smaller ? 'yes' : 'NO'} |`),
  '',
  `    ${rows.every((r) => r.smaller) ? 'PASS' : 'FAIL'} size: the image delta is smaller than zstd --patch-from (best of -3 and -19) on every pair`,
  `    ${rows[0] && rows[0].ratio >= 20 ? 'PASS' : 'FAIL'} pull: the one-character edit's delta is at most 1/20 of the pull (${rows[0]?.ratio.toFixed(0)}x)`,
];
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'image.md'), `${lines.join('\n')}\n`);
console.log(`\n${lines.join('\n')}`);
