// Builds the size benchmark's corpus under bench/corpus/ from material on this machine (plus the
// npm registry and Debian's apt archive, both cached after the first run). Every pair is a
// realistic "old version, new version" of a file a device would update. Run directly to (re)build:
//   node bench/corpus.mjs          (BENCH_REBUILD=1 to throw the cached pairs away)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CORPUS_DIR = join(import.meta.dirname, 'corpus');
const PAIRS_DIR = join(CORPUS_DIR, 'pairs');
const MiB = 1 << 20;

/** Runs a command; throws with its stderr when it fails. Returns stdout as text. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().slice(0, 2000)}`);
  return r.stdout ?? '';
}

/** Deterministic PRNG (xorshift32), so the corpus is the same on every machine. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

// GNU tar with fixed owners: the only differences between two builds are the ones we make.
const TAR_FIXED = ['--owner=0', '--group=0', '--numeric-owner', '--format=gnu'];

/** Sets the mtime of every file and directory under `dir` to `epochSecs` (a "rebuild"). */
function touchAll(dir, epochSecs) {
  run('sh', ['-c', `find . -exec touch -h -d @${epochSecs} {} +`], { cwd: dir });
}

// ---------------------------------------------------------------------------------------------
// Pair: two builds of one npm application tree (node_modules + src), one character edited.

const NPM_PACKAGES = [
  'express@4.21.2', 'lodash@4.17.21', 'dayjs@1.11.13', 'moment@2.30.1', 'rxjs@7.8.1',
  'axios@1.7.9', 'uuid@11.0.3', 'commander@12.1.0', 'zod@3.24.1',
];

/** A small but plausible app source tree: route handlers, services, a config. */
function writeAppSources(root) {
  const rand = rng(0x5eed);
  const entities = ['users', 'orders', 'devices', 'images', 'updates', 'fleets', 'layers', 'sessions', 'metrics', 'alerts'];
  mkdirSync(join(root, 'src/routes'), { recursive: true });
  mkdirSync(join(root, 'src/services'), { recursive: true });
  for (const e of entities) {
    const fields = ['id', 'name', 'createdAt', 'updatedAt', 'status', 'owner', 'version', 'digest'].filter(() => rand() % 3 !== 0);
    const route = [
      `import { Router } from 'express';`,
      `import { z } from 'zod';`,
      `import * as service from '../services/${e}.js';`,
      ``,
      `const schema = z.object({ ${fields.map((f) => `${f}: z.string()`).join(', ')} });`,
      `export const router = Router();`,
      ``,
      ...['get', 'post', 'put', 'delete'].flatMap((m) => [
        `router.${m}('/${e}${m === 'get' || m === 'post' ? '' : '/:id'}', async (req, res, next) => {`,
        `  try {`,
        m === 'post' || m === 'put' ? `    const body = schema.parse(req.body);` : `    const body = undefined;`,
        `    const result = await service.${m}${e[0].toUpperCase()}${e.slice(1)}(req.params, body);`,
        `    res.status(${m === 'post' ? 201 : 200}).json({ ok: true, result });`,
        `  } catch (err) {`,
        `    next(err);`,
        `  }`,
        `});`,
        ``,
      ]),
    ].join('\n');
    writeFileSync(join(root, `src/routes/${e}.js`), route);
    const svc = [
      `import _ from 'lodash';`,
      `import dayjs from 'dayjs';`,
      `import { v4 as uuid } from 'uuid';`,
      ``,
      `const store = new Map();`,
      ...['get', 'post', 'put', 'delete'].map((m) =>
        `export async function ${m}${e[0].toUpperCase()}${e.slice(1)}(params, body) {\n` +
        `  // ${m.toUpperCase()} on ${e}: kept in memory in this sample app.\n` +
        (m === 'post' ? `  const item = { ...body, id: uuid(), createdAt: dayjs().toISOString() };\n  store.set(item.id, item);\n  return item;\n` :
          m === 'get' ? `  return _.sortBy([...store.values()], 'createdAt');\n` :
            m === 'put' ? `  const item = _.merge(store.get(params.id) ?? {}, body);\n  store.set(params.id, item);\n  return item;\n` :
              `  return store.delete(params.id);\n`) +
        `}\n`),
    ].join('\n');
    writeFileSync(join(root, `src/services/${e}.js`), svc);
  }
  writeFileSync(join(root, 'src/app.js'), [
    `import express from 'express';`,
    ...entities.map((e) => `import { router as ${e} } from './routes/${e}.js';`),
    ``,
    `const app = express();`,
    `app.use(express.json());`,
    ...entities.map((e) => `app.use('/api', ${e});`),
    `app.get('/health', (req, res) => res.json({ status: 'ok', message: 'Hello from the fleet' }));`,
    `app.listen(Number(process.env.PORT ?? 8080));`,
    ``,
  ].join('\n'));
}

function buildNpmApp(out) {
  const base = join(CORPUS_DIR, 'npm-app');
  const install = join(base, 'install');
  if (!existsSync(join(install, 'node_modules', 'express'))) {
    rmSync(install, { recursive: true, force: true });
    mkdirSync(install, { recursive: true });
    run('npm', ['init', '-y'], { cwd: install });
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--save-exact', ...NPM_PACKAGES], { cwd: install });
  }
  const stage = join(base, 'stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  run('cp', ['-a', `${install}/.`, stage]);
  writeAppSources(stage);
  const tarTo = (file) => run('tar', ['--sort=name', ...TAR_FIXED, '-cf', file, '-C', stage, '.']);
  touchAll(stage, 1_700_000_000);
  tarTo(out.basis);
  // Build 2: a one-character fix in one source file, and every mtime new (a fresh checkout/COPY).
  const edited = join(stage, 'src/app.js');
  writeFileSync(edited, readFileSync(edited, 'utf8').replace('Hello from the fleet', 'Hello from the Fleet'));
  touchAll(stage, 1_700_086_400);
  tarTo(out.target);
  rmSync(stage, { recursive: true, force: true });
  return `node_modules of ${NPM_PACKAGES.length} packages + app src; src/app.js one char edited, all mtimes changed`;
}

// ---------------------------------------------------------------------------------------------
// Pairs: a Debian package's files before and after an upgrade (uncompressed data.tar of each).

/** Versions apt can download for `pkg`, newest first. */
function aptVersions(pkg) {
  const r = spawnSync('apt-cache', ['madison', pkg], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const vs = [...new Set(r.stdout.split('\n').map((l) => l.split('|')[1]?.trim()).filter(Boolean))];
  const newer = (a, b) => spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0;
  return vs.sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0));
}

/** Downloads `pkg=version` into the cache and returns the .deb path. */
function aptDownload(pkg, version) {
  const dir = join(CORPUS_DIR, 'debs');
  mkdirSync(dir, { recursive: true });
  const find = () => readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.includes(version.replace(/^\d+:/, '')) && f.endsWith('.deb'));
  if (!find()) run('apt-get', ['download', `${pkg}=${version}`], { cwd: dir });
  const f = find();
  if (!f) throw new Error(`apt-get download ${pkg}=${version} left no .deb in ${dir}`);
  return join(dir, f);
}

function dataTar(deb, file) {
  run('sh', ['-c', `dpkg-deb --fsys-tarfile "$0" > "$1"`, deb, file]);
}

function buildDebUpgrade(pkg, fallbackPkg) {
  return (out) => {
    const vs = aptVersions(pkg);
    if (vs.length >= 2) {
      // The two newest versions: one upgrade step, as a device would take it.
      dataTar(aptDownload(pkg, vs[1]), out.basis);
      dataTar(aptDownload(pkg, vs[0]), out.target);
      return `Debian ${pkg} ${vs[1]} -> ${vs[0]} (data.tar, uncompressed)`;
    }
    const other = aptVersions(fallbackPkg);
    if (vs.length === 0 || other.length === 0) throw new Error(`apt has no version of ${pkg} or ${fallbackPkg}`);
    dataTar(aptDownload(pkg, vs[0]), out.basis);
    dataTar(aptDownload(fallbackPkg, other[0]), out.target);
    return `FALLBACK (apt has only one version of ${pkg}): ${pkg} ${vs[0]} vs related package ${fallbackPkg} ${other[0]}`;
  };
}

// ---------------------------------------------------------------------------------------------
// Pair: a tar of a directory vs the same tar with one file added and the member order shuffled.

const TREE_SOURCES = [
  { dir: '/usr/lib/python3.11', skip: /(__pycache__|-packages\/)/ },
  { dir: '/usr/share/doc', skip: null },
  { dir: '/usr/include', skip: null },
];
const TREE_CAP = 32 * MiB;

function buildTarReorder(out) {
  const src = TREE_SOURCES.find((s) => existsSync(s.dir));
  if (!src) throw new Error(`none of ${TREE_SOURCES.map((s) => s.dir).join(', ')} exists`);
  const all = run('find', ['.', '-type', 'f', '-printf', '%s %p\n'], { cwd: src.dir })
    .split('\n').filter(Boolean)
    .map((l) => ({ size: Number(l.slice(0, l.indexOf(' '))), path: l.slice(l.indexOf(' ') + 1) }))
    .filter((f) => !src.skip || !src.skip.test(f.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = [];
  let total = 0;
  for (const f of all) {
    if (total + f.size > TREE_CAP) break;
    files.push(f.path);
    total += f.size;
  }
  const stage = join(CORPUS_DIR, 'tree-stage');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const list = join(CORPUS_DIR, 'tree-list.txt');
  writeFileSync(list, files.join('\n') + '\n');
  // Copy through tar so contents and mtimes stay as they are on this machine.
  run('sh', ['-c', `tar -cf - -C "$0" -T "$1" | tar -xf - -C "$2"`, src.dir, list, stage]);
  run('tar', [...TAR_FIXED, '--no-recursion', '-cf', out.basis, '-C', stage, '-T', list]);
  // The new file: 96 KiB of release notes, placed in the middle of the tree.
  const rand = rng(0xadd);
  const added = './NEWS-added.txt';
  let text = '';
  while (text.length < 96 * 1024) text += `- change ${rand() % 100000}: fixed item ${rand().toString(36)} in module ${rand().toString(16)}\n`;
  writeFileSync(join(stage, added), text);
  const shuffled = [...files, added];
  const rs = rng(0x5a5a5a5);
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = rs() % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  writeFileSync(list, shuffled.join('\n') + '\n');
  run('tar', [...TAR_FIXED, '--no-recursion', '-cf', out.target, '-C', stage, '-T', list]);
  rmSync(stage, { recursive: true, force: true });
  rmSync(list, { force: true });
  return `${files.length} files of ${src.dir} (${(total / MiB).toFixed(1)} MiB); target adds 1 file, member order shuffled`;
}

// ---------------------------------------------------------------------------------------------
// Pair: worst case, random vs unrelated random.

function randomFile(file, size, seed) {
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  const r = rng(seed);
  for (let i = 0; i < size; i += 4) view.setUint32(i, r(), true);
  writeFileSync(file, buf);
}

function buildRandom(out) {
  randomFile(out.basis, 8 * MiB, 0x1234567);
  randomFile(out.target, 8 * MiB, 0x7654321);
  return '8 MiB random vs 8 MiB unrelated random (worst case)';
}

// ---------------------------------------------------------------------------------------------

const BUILDERS = [
  { name: 'npm-app', build: buildNpmApp },
  { name: 'deb-libssl3', build: buildDebUpgrade('libssl3', 'libssl-dev') },
  { name: 'deb-python-stdlib', build: buildDebUpgrade('libpython3.11-stdlib', 'libpython3.11-minimal') },
  { name: 'tar-reorder', build: buildTarReorder },
  { name: 'random', build: buildRandom },
];

/**
 * Builds (or reuses from bench/corpus/pairs/) every pair. A pair that cannot be built here is
 * returned with `error` set, so the benchmark can report it instead of stopping.
 * @example
 *   for (const p of buildCorpus()) console.log(p.name, p.basis, p.target, p.note);
 */
export function buildCorpus({ log = () => {}, rebuild = false } = {}) {
  const pairs = [];
  for (const { name, build } of BUILDERS) {
    const dir = join(PAIRS_DIR, name);
    const pair = { name, basis: join(dir, 'basis'), target: join(dir, 'target'), note: '' };
    const meta = join(dir, 'meta.json');
    if (!rebuild && existsSync(meta)) {
      pair.note = JSON.parse(readFileSync(meta, 'utf8')).note;
      pairs.push(pair);
      continue;
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const t0 = process.hrtime.bigint();
    try {
      pair.note = build(pair);
      writeFileSync(meta, JSON.stringify({ note: pair.note }, null, 2));
      log(`built ${name} in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s: ${pair.note}`);
    } catch (e) {
      pair.error = e.message;
      log(`could not build ${name}: ${e.message}`);
    }
    pairs.push(pair);
  }
  for (const p of pairs) {
    if (!p.error) {
      p.basisSize = statSync(p.basis).size;
      p.targetSize = statSync(p.target).size;
    }
  }
  return pairs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const pairs = buildCorpus({ log: (m) => console.log(m), rebuild: process.env.BENCH_REBUILD === '1' });
  for (const p of pairs) {
    console.log(p.error ? `${p.name}: ERROR ${p.error}` : `${p.name}: ${p.basisSize} -> ${p.targetSize} bytes  ${p.note}`);
  }
}
