import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
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

/** What a CLI run ended with: its exit code (null when killed) and its output. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI without blocking this process (spawnSync would stop the servers and engines
 * a test runs here from answering it); resolves once it has exited.
 * @example
 * const r = await runCliAsync(['update', '--to', 'app:2', '--server', url], { DOCKER_HOST: `unix://${d.socketPath}` });
 */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
