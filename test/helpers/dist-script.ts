import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ensureBuilt } from './cli.js';

/** The built package's entry, for scripts run in a process of their own. */
export const distIndex = join(import.meta.dirname, '..', '..', 'dist', 'index.js');

/**
 * Runs `script` (an ES module body; `dist` names the built package's entry) in a Node process of
 * its own, where nothing else holds memory, and resolves with the number it prints after `marker`.
 * @example
 * await numberFromScript(`console.log('N ' + 42)`, 'N'); // 42
 */
export function numberFromScript(script: string, marker: string, opts: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  ensureBuilt();
  const body = `const dist = ${JSON.stringify(distIndex)};\n${script}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...(opts.nodeArgs ?? []), '--input-type=module', '-e', body], { env: opts.env ?? process.env, maxBuffer: 1 << 20 }, (e, stdout, stderr) => {
      const n = new RegExp(`${marker} (-?\\d+)`).exec(stdout)?.[1];
      if (e || n === undefined) reject(new Error(`the script failed: ${e?.message ?? ''}\n${stderr}`));
      else resolve(Number(n));
    });
  });
}
