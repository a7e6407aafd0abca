import { spawnSync } from 'node:child_process';

/** True when `cmd` is on the PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The project's rule for tests that need a peer program: on a developer machine they skip with a
 * message naming the Debian package to install; in CI (`CI=true`) a missing peer is a failure.
 * Use as `describe.skipIf(peer('rdiff', 'rdiff').skip)(...)`.
 */
export function peer(cmd: string, debianPackage: string): { skip: boolean; message: string } {
  if (hasCommand(cmd)) return { skip: false, message: '' };
  const message = `${cmd} is not installed: install the Debian package ${debianPackage} (apt-get install ${debianPackage}) to run these tests`;
  if (process.env.CI === 'true') throw new Error(`CI requires ${cmd}: ${message}`);
  console.warn(`skipping: ${message}`);
  return { skip: true, message };
}
