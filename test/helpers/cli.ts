import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const root = join(import.meta.dirname, '..', '..');
export const cliPath = join(root, 'dist', 'cli.js');

/** Builds dist/ once if a test runs before `npm run build`. */
export function ensureBuilt(): void {
  if (!existsSync(cliPath)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
}

/** Runs the built CLI; `input` goes to stdin. */
export function runCli(args: string[], input?: Uint8Array): SpawnSyncReturns<Buffer> {
  return spawnSync(process.execPath, [cliPath, ...args], { input, maxBuffer: 1 << 30 });
}
