import { numberFromScript } from './dist-script.js';

/**
 * Runs `script` (an ES module body; `dist` names the built package's entry) in a Node process of
 * its own with `--expose-gc`: it must define `async function round()`, one batch of the work
 * under test. One round warms up (JIT, caches with a bound), then the live heap is measured after
 * a collection before and after `rounds` more: resolves with the growth in MiB, which work that
 * holds nothing per operation keeps near 0.
 * @example
 * expect(await heapGrowthMiB(`async function round() { for (let i = 0; i < 500; i++) await op(); }`)).toBeLessThan(1);
 */
export async function heapGrowthMiB(script: string, rounds = 2): Promise<number> {
  const bytes = await numberFromScript(
    `${script}
const live = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); } return process.memoryUsage().heapUsed; };
await round();
const before = await live();
for (let i = 0; i < ${rounds}; i++) await round();
console.log('HEAP_GROWTH_BYTES ' + ((await live()) - before));
process.exit(0);`,
    'HEAP_GROWTH_BYTES',
    { nodeArgs: ['--expose-gc'] },
  );
  return bytes / (1 << 20);
}
