import { numberFromScript } from './dist-script.js';

/**
 * Runs `script` (an ES module body; `dist` names the built package's entry) in a Node process of
 * its own, where nothing else holds memory, and resolves with its peak RSS in MiB. Read from
 * VmHWM, not `resourceUsage().maxRSS`: Linux carries the RSS a child had before exec (a copy of
 * its parent's, the test runner's hundreds of MiB) into maxRSS.
 * @example
 * expect(await peakRssMiB(`const { signatureFile } = await import(dist); …`)).toBeLessThan(80);
 */
export async function peakRssMiB(script: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const kib = await numberFromScript(
    `${script}
const hwm = /VmHWM:\\s*(\\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'));
console.log('PEAK_RSS_KIB ' + hwm[1]);`,
    'PEAK_RSS_KIB',
    { env },
  );
  return kib / 1024;
}
