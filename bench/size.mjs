// `npm run bench:size`: delta size and time of rolldelta (diff and rsync mode) beside zstd
// --patch-from, xdelta3, rdiff (+gzip) and bsdiff on a realistic corpus (bench/corpus.mjs), all in
// the same run. Every delta is decoded again and compared with the target. Prints a markdown table,
// writes it to bench/results/size.md, and ends with one PASS/FAIL line per acceptance criterion
// (it never fails the test suite: the exit code is 0 whenever the benchmark itself ran).
// Env: BENCH_RD_LEVEL (rolldelta diff level judged by the criteria, default 9),
//      BENCH_RD_CLI (another build of the CLI, default dist/cli.js), BENCH_BSDIFF_MAX_MIB (default 24: bsdiff is O(n log n) in time and 17n in memory), BENCH_ONLY (comma list of pair names), BENCH_REBUILD=1.
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildCorpus } from './corpus.mjs';
import { have, machine, runTimed } from './_peers.mjs';

const MiB = 1 << 20;
const root = join(import.meta.dirname, '..');
const cli = process.env.BENCH_RD_CLI ?? join(root, 'dist', 'cli.js');
const workRoot = join(import.meta.dirname, '.work', 'size');
const judgedLevel = Number(process.env.BENCH_RD_LEVEL ?? 9);
const bsdiffMax = Number(process.env.BENCH_BSDIFF_MAX_MIB ?? 24) * MiB;
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const log = (m) => process.stderr.write(`${m}\n`);

const size = (p) => statSync(p).size;
const same = (a, b) => spawnSync('cmp', ['-s', a, b]).status === 0;

/**
 * Runs the steps of one tool (each `[cmd, ...args]`), summing wall time (the fastest of 3 rounds
 * when a round takes under 2 s); then `check` decodes the delta (untimed) and compares it with the
 * target. Returns a result cell for the table.
 */
function measure(steps, deltaFile, check) {
  let best = Infinity;
  let rssMiB = 0;
  // Short runs are noisy (process start, page cache): keep the fastest of up to 3 runs of them.
  for (let round = 0; round < 3; round++) {
    let secs = 0;
    for (const [cmd, ...args] of steps) {
      const r = runTimed(cmd, args);
      secs += r.secs;
      if (r.rssMiB > rssMiB) rssMiB = r.rssMiB;
      if (!r.ok) return { error: `${basename(cmd)} ${args.find((a) => !a.startsWith('-')) ?? ''}: ${r.timedOut ? 'timed out' : (r.stderr || r.error || 'failed').split('\n')[0].slice(0, 160)}` };
    }
    best = Math.min(best, secs);
    if (secs >= 2) break;
  }
  const bytes = size(deltaFile);
  const verified = check();
  return { bytes, secs: best, rssMiB, verified };
}

/** Decodes with `[cmd, ...args]` into `out`, compares with `target`, removes `out`. */
function decodesTo(cmdArgs, out, target) {
  return () => {
    const r = runTimed(cmdArgs[0], cmdArgs.slice(1));
    const ok = r.ok && same(out, target);
    rmSync(out, { force: true });
    return ok;
  };
}

function rolldeltaAvailable() {
  if (!existsSync(cli)) return `${cli} missing (run npm run build)`;
  const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${cli} does not run: ${(r.stderr || '').split('\n')[0]}`;
}

/** zstd's --long window log: covers the larger file, within zstd's limits. */
function zstdWindowLog(b, t) {
  return Math.min(31, Math.max(10, Math.ceil(Math.log2(Math.max(b, t, 1))) + 1));
}

const rdMissing = rolldeltaAvailable();

/** Which rolldelta was measured: the CLI path and the commit of the tree (with "+edits" if dirty). */
function rdVersion() {
  const git = (...a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git('status', '--porcelain', '--', 'src').length > 0 ? '+edits' : '';
  return `CLI ${cli.startsWith(root) ? cli.slice(root.length + 1) : cli} built from commit ${git('rev-parse', '--short', 'HEAD') || '?'}${dirty}`;
}
const node = process.execPath;

/** Every tool: id, column label, whether it is a peer (counts for "best peer"), and how to run it. */
const TOOLS = [
  {
    id: 'rd9', label: 'rolldelta diff -9', missing: rdMissing,
    run: (p, w) => measure([[node, cli, 'diff', '--level', '9', '--workers', 'auto', p.basis, p.target, `${w}/rd9`]], `${w}/rd9`,
      decodesTo([node, cli, 'patch', p.basis, `${w}/rd9`, `${w}/out`], `${w}/out`, p.target)),
  },
  {
    id: 'rd6', label: 'rolldelta diff -6', missing: rdMissing,
    run: (p, w) => measure([[node, cli, 'diff', '--level', '6', '--workers', 'auto', p.basis, p.target, `${w}/rd6`]], `${w}/rd6`,
      decodesTo([node, cli, 'patch', p.basis, `${w}/rd6`, `${w}/out`], `${w}/out`, p.target)),
  },
  {
    id: 'rdsync', label: 'rolldelta rsync (sig+delta)', missing: rdMissing,
    run: (p, w) => {
      const c = measure([[node, cli, 'signature', p.basis, `${w}/rd.sig`], [node, cli, 'delta', `${w}/rd.sig`, p.target, `${w}/rdsync`]],
        `${w}/rdsync`, decodesTo([node, cli, 'patch', p.basis, `${w}/rdsync`, `${w}/out`], `${w}/out`, p.target));
      if (existsSync(`${w}/rd.sig`)) c.sigBytes = size(`${w}/rd.sig`);
      return c;
    },
  },
  {
    id: 'zstd3', label: 'zstd -3 --patch-from', peer: true, missing: have('zstd') ? null : 'zstd not installed',
    run: (p, w) => {
      const n = zstdWindowLog(p.basisSize, p.targetSize);
      const mem = `--memory=${Math.max(128, 2 ** (n - 20))}MB`;
      return measure([['zstd', '-q', '-f', '-3', `--long=${n}`, `--patch-from=${p.basis}`, p.target, '-o', `${w}/z3`]], `${w}/z3`,
        decodesTo(['zstd', '-q', '-f', '-d', `--long=${n}`, mem, `--patch-from=${p.basis}`, `${w}/z3`, '-o', `${w}/out`], `${w}/out`, p.target));
    },
  },
  {
    id: 'zstd19', label: 'zstd -19 --patch-from', peer: true, missing: have('zstd') ? null : 'zstd not installed',
    run: (p, w) => {
      const n = zstdWindowLog(p.basisSize, p.targetSize);
      const mem = `--memory=${Math.max(128, 2 ** (n - 20))}MB`;
      return measure([['zstd', '-q', '-f', '-19', `--long=${n}`, `--patch-from=${p.basis}`, p.target, '-o', `${w}/z19`]], `${w}/z19`,
        decodesTo(['zstd', '-q', '-f', '-d', `--long=${n}`, mem, `--patch-from=${p.basis}`, `${w}/z19`, '-o', `${w}/out`], `${w}/out`, p.target));
    },
  },
  {
    id: 'xdelta3', label: 'xdelta3 -9', peer: true, missing: have('xdelta3') ? null : 'xdelta3 not installed',
    run: (p, w) => {
      // Source window: a power of two covering the whole basis, so every match can be found.
      const B = String(2 ** Math.max(14, Math.ceil(Math.log2(Math.max(p.basisSize, 1)))));
      return measure([['xdelta3', '-9', '-f', '-e', '-B', B, '-s', p.basis, p.target, `${w}/xd3`]], `${w}/xd3`,
        decodesTo(['xdelta3', '-d', '-f', '-B', B, '-s', p.basis, `${w}/xd3`, `${w}/out`], `${w}/out`, p.target));
    },
  },
  {
    id: 'rdiff', label: 'rdiff + gzip -9', peer: true, missing: have('rdiff') && have('gzip') ? null : 'rdiff or gzip not installed',
    run: (p, w) => measure([
      ['rdiff', '-f', 'signature', p.basis, `${w}/rdiff.sig`],
      ['rdiff', '-f', 'delta', `${w}/rdiff.sig`, p.target, `${w}/rdiff`],
      ['sh', '-c', 'gzip -9 -c "$0" > "$1"', `${w}/rdiff`, `${w}/rdiff.gz`],
    ], `${w}/rdiff.gz`, decodesTo(['rdiff', '-f', 'patch', p.basis, `${w}/rdiff`, `${w}/out`], `${w}/out`, p.target)),
  },
  {
    id: 'bsdiff', label: 'bsdiff', peer: true, missing: have('bsdiff') && have('bspatch') ? null : 'bsdiff not installed',
    skip: (p) => (Math.max(p.basisSize, p.targetSize) > bsdiffMax ? `> ${bsdiffMax / MiB} MiB` : null),
    run: (p, w) => measure([['bsdiff', p.basis, p.target, `${w}/bsd`]], `${w}/bsd`,
      decodesTo(['bspatch', p.basis, `${w}/out`, `${w}/bsd`], `${w}/out`, p.target)),
  },
];

// ---------------------------------------------------------------------------------------------

const started = process.hrtime.bigint();
log(`machine: ${machine()}`);
const pairs = buildCorpus({ log, rebuild: process.env.BENCH_REBUILD === '1' }).filter((p) => !only || only.has(p.name));
for (const t of TOOLS) if (t.missing) log(`skipping ${t.label}: ${t.missing}`);

const results = [];
for (const p of pairs) {
  const row = { pair: p.name, note: p.note, basisSize: p.basisSize, targetSize: p.targetSize, error: p.error, cells: {} };
  results.push(row);
  if (p.error) continue;
  const w = join(workRoot, p.name);
  rmSync(w, { recursive: true, force: true });
  mkdirSync(w, { recursive: true });
  spawnSync('sh', ['-c', 'cat "$0" "$1" > /dev/null', p.basis, p.target]); // same warm page cache for every tool
  for (const t of TOOLS) {
    if (t.missing) {
      row.cells[t.id] = { skipped: 'not available' };
      continue;
    }
    const why = t.skip?.(p);
    if (why) {
      row.cells[t.id] = { skipped: why };
      continue;
    }
    const c = t.run(p, w);
    row.cells[t.id] = c;
    log(`${p.name.padEnd(18)} ${t.label.padEnd(28)} ${c.error ? `ERROR ${c.error}` : `${String(c.bytes).padStart(10)} B ${c.secs.toFixed(2).padStart(7)} s ${c.rssMiB.toFixed(0).padStart(5)} MiB${c.verified ? '' : '  NOT VERIFIED'}`}`);
  }
  rmSync(w, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Judging and the table.

const judged = `rd${judgedLevel}`;
const good = (c) => c && c.bytes !== undefined && c.verified;
for (const r of results) {
  const peers = TOOLS.filter((t) => t.peer).map((t) => ({ t, c: r.cells[t.id] })).filter((x) => good(x.c));
  const best = peers.reduce((a, b) => (a && a.c.bytes <= b.c.bytes ? a : b), null);
  const rd = r.cells[judged];
  const z3 = r.cells.zstd3;
  r.bestPeer = best ? { tool: best.t.label, bytes: best.c.bytes } : null;
  r.sizeRatio = good(rd) && best ? rd.bytes / best.c.bytes : null;
  r.timeRatio = good(rd) && good(z3) ? rd.secs / z3.secs : null;
}

const num = (n) => n.toLocaleString('en-US');
const signed = (n) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${num(Math.abs(n))}`;
const pct = (b, t) => (t ? `${((100 * b) / t).toFixed(b * 1000 < t ? 3 : 1)}%` : '');
function cellText(c, target) {
  if (!c) return '';
  if (c.skipped) return `skipped (${c.skipped})`;
  if (c.error) return `error: ${c.error.replace(/\|/g, '/')}`;
  return `${num(c.bytes)} (${pct(c.bytes, target)}) · ${c.secs.toFixed(2)} s${c.verified ? '' : ' · NOT VERIFIED'}`;
}

const header = ['pair', 'basis → target bytes', ...TOOLS.map((t) => t.label), `rolldelta vs best peer`, 'time vs zstd -3'];
const lines = [
  `| ${header.join(' | ')} |`,
  `|${header.map(() => '---').join('|')}|`,
  ...results.map((r) => r.error
    ? `| ${r.pair} | corpus error: ${r.error.replace(/\|/g, '/')} |${TOOLS.map(() => '').join(' |')} | | |`
    : `| ${r.pair} | ${num(r.basisSize)} → ${num(r.targetSize)} | ${TOOLS.map((t) => cellText(r.cells[t.id], r.targetSize)).join(' | ')} | ${r.sizeRatio === null ? 'n/a' : `${r.sizeRatio.toFixed(3)}x (${signed(r.cells[judged].bytes - r.bestPeer.bytes)} B vs ${r.bestPeer.tool})`} | ${r.timeRatio === null ? 'n/a' : `${r.timeRatio.toFixed(2)}x`} |`),
];

const notes = results.filter((r) => !r.error).map((r) => {
  const sig = r.cells.rdsync?.sigBytes;
  return `- **${r.pair}**: ${r.note}.${sig ? ` rolldelta rsync signature: ${num(sig)} bytes (not counted in its delta size).` : ''}`;
});

const judgedRows = results.filter((r) => !r.error);
const sizePass = judgedRows.length > 0 && judgedRows.every((r) => r.sizeRatio !== null && r.sizeRatio <= 1);
const timePass = judgedRows.length > 0 && judgedRows.every((r) => r.timeRatio !== null && r.timeRatio <= 3);
/** The worst ratio over all pairs, or why there is none. */
function worst(k, digits) {
  const missing = judgedRows.filter((r) => r[k] === null).map((r) => r.pair);
  const known = judgedRows.filter((r) => r[k] !== null).map((r) => r[k]);
  const w = known.length ? `worst ${Math.max(...known).toFixed(digits)}x` : 'no ratio measured';
  return missing.length ? `${w}; not measured on ${missing.join(', ')}` : w;
}
const verdicts = [
  `${sizePass ? 'PASS' : 'FAIL'} size: rolldelta diff -${judgedLevel} delta <= smallest peer delta on every pair (${worst('sizeRatio', 3)})`,
  `${timePass ? 'PASS' : 'FAIL'} time: rolldelta diff -${judgedLevel} within 3x of zstd -3 --patch-from on every pair (${worst('timeRatio', 2)})`,
];
if (rdMissing) verdicts.push(`NOTE: rolldelta not measured: ${rdMissing}`);
const unverified = results.flatMap((r) => Object.entries(r.cells).filter(([, c]) => c.bytes !== undefined && !c.verified).map(([id]) => `${r.pair}/${id}`));
if (unverified.length) verdicts.push(`WARNING: deltas that did not decode back to the target: ${unverified.join(', ')}`);

const totalSecs = Number(process.hrtime.bigint() - started) / 1e9;
const md = [
  '# Size benchmark (`npm run bench:size`)',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; whole run ${totalSecs.toFixed(0)} s;`,
  `rolldelta ${rdVersion()}.`,
  'Cells: delta bytes (percent of target) · wall seconds (process start to exit, including the',
  'signature step for the rsync-model tools and gzip for rdiff). Every delta was decoded again and',
  'compared byte for byte with the target. "Best peer" is the smallest of zstd, xdelta3, rdiff+gzip',
  `and bsdiff; the ratios judge rolldelta diff -${judgedLevel}. rolldelta diff runs with --workers auto`,
  '(both cores: the basis index, and at -9 the context mixing of frames; the same deltas).',
  '',
  ...lines,
  '',
  ...notes,
  '',
  ...verdicts.map((v) => `    ${v}`),
  '',
].join('\n');

process.stdout.write(`${md}\n`);
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'size.md'), md);
mkdirSync(join(import.meta.dirname, '.work'), { recursive: true });
writeFileSync(join(import.meta.dirname, '.work', 'size.json'), JSON.stringify({ machine: machine(), totalSecs, results }, null, 2));
