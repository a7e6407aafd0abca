import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt } from './cli.js';

/** The built package's entry, for scripts run in a process of their own. */
export const distIndex = join(import.meta.dirname, '..', '..', 'dist', 'index.js');

/**
 * Runs `script` (an ES module body; `dist` names the built package's entry) in a Node process of
 * its own, where nothing else holds memory, and resolves with its peak RSS in MiB. Read from
 * VmHWM, not `resourceUsage().maxRSS`: Linux carries the RSS a child had before exec (a copy of
 * its parent's, the test runner's hundreds of MiB) into maxRSS.
 * @example
 * expect(await peakRssMiB(`const { signatureFile } = await import(dist); …`)).toBeLessThan(80);
 */
export function peakRssMiB(script: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  ensureBuilt();
  const body = `const dist = ${JSON.stringify(distIndex)};
${script}
const hwm = /VmHWM:\\s*(\\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'));
console.log('PEAK_RSS_KIB ' + hwm[1]);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', body], { env, maxBuffer: 1 << 20 }, (e, stdout, stderr) => {
      const kib = /PEAK_RSS_KIB (\d+)/.exec(stdout)?.[1];
      if (e || kib === undefined) reject(new Error(`the script failed: ${e?.message ?? ''}\n${stderr}`));
      else resolve(Number(kib) / 1024);
    });
  });
}
