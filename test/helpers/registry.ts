import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A throwaway docker-registry (no auth, filesystem storage) on 127.0.0.1:port. */
export async function startRegistry(dir: string, port: number): Promise<{ stop(): Promise<void> }> {
  const config = join(dir + '.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore', detached: true });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await gone;
    }
  };
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (res.ok) return { stop };
    } catch {
      // Not listening yet.
    }
    if (i > 100 || child.exitCode !== null) {
      await stop();
      throw new Error('docker-registry did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

