// A private Docker Engine for the demo and the image benchmark: vfs storage, no networking, its
// own socket under a short /tmp path (containerd's socket paths are length-limited).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DockerEngine } from '../dist/index.js';

/** Why a private dockerd cannot run here, or undefined. */
export function privateEngineUnavailable() {
  if (!existsSync('/usr/sbin/dockerd')) return 'dockerd is not installed (apt-get install docker.io)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (apt-get install busybox-static)';
  if (process.getuid?.() !== 0) return 'a private dockerd needs root';
  return undefined;
}

/** Starts dockerd; resolves to { engine, socketPath, root, stop() } once it answers /_ping. */
export async function startPrivateEngine() {
  const root = mkdtempSync('/tmp/rdd-');
  const socketPath = join(root, 's');
  const child = spawn(
    '/usr/sbin/dockerd',
    ['--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs', `--data-root=${join(root, 'd')}`, `--exec-root=${join(root, 'x')}`, `--pidfile=${join(root, 'pid')}`, '-H', `unix://${socketPath}`],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  const stop = async () => {
    try {
      process.kill(child.pid, 'SIGTERM');
      for (let i = 0; i < 200; i++) {
        process.kill(child.pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      }
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // Gone.
    }
    rmSync(root, { recursive: true, force: true });
  };
  const engine = new DockerEngine({ socketPath });
  for (let i = 0; i < 600; i++) {
    try {
      await engine.ping();
      return { engine, socketPath, root, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error('dockerd did not start within 60 s');
}
