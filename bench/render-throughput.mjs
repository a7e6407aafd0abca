// Re-draws bench/results/throughput.svg and throughput.md from throughput.json (after a change to
// the chart or the tables, without measuring again): `node bench/render-throughput.mjs [dir]`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsMarkdown } from './_markdown.mjs';
import { throughputSvg } from './_svg.mjs';

const dir = process.argv[2] ?? join(import.meta.dirname, 'results');
const results = JSON.parse(readFileSync(join(dir, 'throughput.json'), 'utf8'));
writeFileSync(join(dir, 'throughput.svg'), throughputSvg(results));
writeFileSync(join(dir, 'throughput.md'), resultsMarkdown(results));
console.log(`wrote ${join(dir, 'throughput.svg')} and throughput.md`);
