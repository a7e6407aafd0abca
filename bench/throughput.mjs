// `npm run bench`: throughput and peak RSS of signature, delta, diff, patch, image diff and image
// apply, each a child process of the built CLI, beside rdiff (BLAKE2, defaults), zstd --patch-from
// -3, xdelta3 -9 and docker load run in the same invocation; at each size of BENCH_SIZES (MiB,
// default "64,256,1024"), so that the growth with size shows. Ratios > 1 mean rolldelta is faster.
// Writes bench/results/throughput.json, .svg (the chart) and .md (BENCH_OUT=dir to write elsewhere).
// BENCH_REPEAT=n keeps the fastest of n runs; BENCH_DOCKER=0 skips docker load.
// Inputs are kept in bench/.work/throughput between runs (about 4x the sizes on disk).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateEngineUnavailable, startPrivateEngine } from './_dockerd.mjs';
import { filePair } from './_file-pair.mjs';
import { imagePair } from './_image-pair.mjs';
import { resultsMarkdown } from './_markdown.mjs';
import { measureFiles, measureImage } from './_measure.mjs';
import { peerNotes, rolldelta } from './_ops.mjs';
import { machine } from './_peers.mjs';
import { checks, linearity, sizeTable } from './_report.mjs';
import { throughputSvg } from './_svg.mjs';

const sizes = (process.env.BENCH_SIZES ?? '64,256,1024').split(',').map((s) => Number(s.trim()));
if (sizes.some((s) => !Number.isInteger(s) || s < 1 || s % 16 !== 0)) {
  throw new Error(`BENCH_SIZES is a comma-separated list of MiB, multiples of 16 (e.g. "64,256,1024"); got ${process.env.BENCH_SIZES}`);
}
const work = join(import.meta.dirname, '.work', 'throughput');
const outDir = process.env.BENCH_OUT ?? join(import.meta.dirname, 'results');
const notes = peerNotes();

let engine;
const why = process.env.BENCH_DOCKER === '0' ? 'BENCH_DOCKER=0' : privateEngineUnavailable();
if (why) notes.docker = `docker load not measured: ${why}`;
else {
  try {
    engine = await startPrivateEngine();
  } catch (e) {
    notes.docker = `docker load not measured: ${e.message}`;
  }
}

// The CLI's own start (Node, the command dispatcher), best of 5: paid once per run whatever the input size.
const startupSecs = Math.min(...Array.from({ length: 5 }, () => rolldelta(['--version']).secs));
const results = { machine: machine(), date: new Date().toISOString(), node: process.version, notes, startupSecs, sizes: [] };
console.log(`rolldelta throughput; ${results.machine}`);
for (const n of Object.values(notes)) console.log(`note: ${n}`);
try {
  for (const mib of sizes) {
    const fileDir = join(work, `file-${mib}`);
    const imageDir = join(work, `image-${mib}`);
    process.stdout.write(`\n${mib} MiB: making inputs... `);
    const pair = filePair(fileDir, mib);
    const img = imagePair(imageDir, mib);
    process.stdout.write('measuring...\n');
    const ops = { ...(await measureFiles(pair, fileDir)), ...(await measureImage(img, imageDir, engine)) };
    const size = {
      mib,
      files: { basisBytes: pair.basisBytes, targetBytes: pair.targetBytes, editedBytes: pair.editedBytes, movedRegions: pair.moves },
      image: { oldBytes: img.oldBytes, newBytes: img.newBytes, files: img.files, editedFiles: img.editedFiles },
      ops,
    };
    results.sizes.push(size);
    console.log(
      `file pair: ${pair.basisBytes.toLocaleString('en-US')} -> ${pair.targetBytes.toLocaleString('en-US')} bytes, ` +
        `${((100 * pair.editedBytes) / pair.basisBytes).toFixed(2)}% edited in scattered spots, ${pair.moves} pairs of regions swapped; ` +
        `image pair: ${img.newBytes.toLocaleString('en-US')} bytes, ${img.files} files in 4 layers, app layer changed (${img.editedFiles} files edited, all mtimes)\n`,
    );
    for (const line of sizeTable(size)) console.log(line);
  }
} finally {
  await engine?.stop();
}

results.linearity = linearity(results.sizes, results.startupSecs);
results.checks = checks(results.sizes, results.startupSecs);
if (Object.keys(results.linearity).length) {
  console.log(`\nlinearity (time per byte at 1 GiB / at 256 MiB, less the CLI's ${results.startupSecs.toFixed(2)} s start; 1.00 = linear):`);
  for (const [name, k] of Object.entries(results.linearity)) console.log(`  ${name.padEnd(21)} ${k.toFixed(2)}`);
}
console.log('\nacceptance (issue #8):');
for (const c of results.checks) console.log(`${c.pass === null ? 'SKIP' : c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'throughput.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, 'throughput.svg'), throughputSvg(results));
writeFileSync(join(outDir, 'throughput.md'), resultsMarkdown(results));
console.log(`\nwrote ${join(outDir, 'throughput.json')}, throughput.svg and throughput.md`);
