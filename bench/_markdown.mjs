// bench/results/throughput.md: the full tables of the throughput bench, and the README's summary.
import { speedRatio } from './_report.mjs';

const sizeLabel = (mib) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);
const num = (x) => (x == null ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** One row per operation: rolldelta MB/s (peak RSS) at each size, and its speed ratio to each peer. */
export function summaryTable(results) {
  const sizes = results.sizes;
  const ops = Object.keys(sizes[0].ops);
  const lines = [
    `| operation | ${sizes.map((s) => `${sizeLabel(s.mib)}: MB/s (RSS MiB)`).join(' | ')} | x peer speed at ${sizeLabel(sizes.at(-1).mib)} |`,
    `|---|${sizes.map(() => '---|').join('')}---|`,
  ];
  for (const name of ops) {
    const cells = sizes.map((s) => {
      const r = s.ops[name].rolldelta;
      return r?.ok ? `${num(r.mbps)} (${num(r.rssMiB)})` : 'failed';
    });
    const last = sizes.at(-1).ops[name];
    const ratios = Object.entries(last.peers)
      .map(([tool, r]) => `${tool} ${speedRatio(last.rolldelta, r)?.toFixed(2) ?? '—'}`)
      .join(', ');
    lines.push(`| ${name} | ${cells.join(' | ')} | ${ratios || '—'} |`);
  }
  return lines.join('\n');
}

/** The whole results as Markdown: per size, every tool's time, MB/s, RSS and output size. */
export function resultsMarkdown(results) {
  const out = [
    '# Throughput (`npm run bench`)',
    '',
    `Measured ${results.date.slice(0, 16).replace('T', ' ')} UTC on ${results.machine}. Every operation is a child`,
    'process; peak RSS is its own (`/usr/bin/time`). Ratios > 1 mean rolldelta is faster. `docker load` is the',
    "client's time for loading the whole new archive into a private engine (vfs storage); its RSS is the engine's, not shown.",
    '`image update (docker apply)` is the device side into that engine holding the old image: `rolldelta docker apply` saves',
    'the old image, rebuilds the new one from the image delta and loads it (old layers left out).',
    'rolldelta signature, diff and image diff run with `--workers auto` (block sums, the basis index and',
    'level 9 frames on both cores; the same output as one thread), image diff with `--no-pull-size` (as the',
    'delta server makes deltas: no gzip of the new layers to report what a pull would move); every other',
    'rolldelta operation and every peer runs as it does by default.',
    '',
    ...Object.values(results.notes).map((n) => `- ${n}`),
    '',
    '## Summary',
    '',
    summaryTable(results),
    '',
  ];
  for (const s of results.sizes) {
    out.push(
      `## ${sizeLabel(s.mib)}`,
      '',
      `File pair: ${s.files.basisBytes.toLocaleString('en-US')} → ${s.files.targetBytes.toLocaleString('en-US')} bytes, ` +
        `${((100 * s.files.editedBytes) / s.files.basisBytes).toFixed(2)}% edited in scattered spots, ${s.files.movedRegions} pairs of regions swapped. ` +
        `Image pair: ${s.image.newBytes.toLocaleString('en-US')} bytes, ${s.image.files} files in 4 layers, the app layer changed ` +
        `(${s.image.editedFiles} files edited, every mtime new).`,
      '',
      '| operation | tool | s | MB/s | peak RSS MiB | output bytes | x peer speed |',
      '|---|---|---|---|---|---|---|',
    );
    for (const [name, o] of Object.entries(s.ops)) {
      for (const [i, [tool, r]] of [['rolldelta', o.rolldelta], ...Object.entries(o.peers)].entries()) {
        const ratio = i === 0 ? '' : speedRatio(o.rolldelta, r)?.toFixed(2) ?? '—';
        out.push(
          r.ok
            ? `| ${i === 0 ? name : ''} | ${tool} | ${r.secs.toFixed(2)} | ${num(r.mbps)} | ${num(r.rssMiB)} | ${r.outBytes?.toLocaleString('en-US') ?? '—'} | ${ratio} |`
            : `| ${i === 0 ? name : ''} | ${tool} | failed | | | | |`,
        );
      }
    }
    out.push('');
  }
  if (Object.keys(results.linearity ?? {}).length) {
    out.push('## Growth with size', '', `Time per byte at 1 GiB over time per byte at 256 MiB, less the CLI's start (\`rolldelta --version\`: Node and the command dispatcher, ${(results.startupSecs ?? 0).toFixed(2)} s, paid once per run; each command's own code loads after it and stays in the figure; 1.00 = linear):`, '');
    for (const [name, k] of Object.entries(results.linearity)) out.push(`- ${name}: ${k.toFixed(2)}`);
    out.push('');
  }
  out.push('## Acceptance (issue #8)', '');
  for (const c of results.checks) out.push(`- ${c.pass === null ? 'SKIP' : c.pass ? 'PASS' : '**FAIL**'} ${c.name}: ${c.detail}`);
  return `${out.join('\n')}\n`;
}
