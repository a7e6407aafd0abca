// The image-update story on a real Docker Engine: a private dockerd, two releases of a small app,
// the delta between the whole images, applied on "the device" straight into docker load, and the
// new release run. Called by demo/run.mjs when dockerd and busybox-static are installed (as root).
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { DockerEngine, applyImageDelta, diffImages } from '../dist/index.js';

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

/** Why the Docker story cannot run here, or undefined. */
export function dockerDemoUnavailable() {
  if (!existsSync('/usr/sbin/dockerd')) return 'dockerd is not installed (apt-get install docker.io)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (apt-get install busybox-static)';
  if (process.getuid?.() !== 0) return 'a private dockerd needs root';
  return undefined;
}

/** A directory tarred with GNU tar, as a build context or a rootfs. */
function tarOf(dir) {
  return execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
}

async function startEngine(root) {
  const socketPath = join(root, 's');
  const child = spawn(
    '/usr/sbin/dockerd',
    ['--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs', `--data-root=${join(root, 'd')}`, `--exec-root=${join(root, 'x')}`, `--pidfile=${join(root, 'pid')}`, '-H', `unix://${socketPath}`],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  const engine = new DockerEngine({ socketPath });
  for (let i = 0; i < 600; i++) {
    try {
      await engine.ping();
      return { engine, pid: child.pid };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('dockerd did not start within 60 s');
}

async function stopEngine(pid) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, 'SIGKILL');
}

/** Source of release `n`: a few thousand lines of code and one line that changes. */
function writeApp(dir, release) {
  mkdirSync(join(dir, 'src'), { recursive: true });
  const lib = [];
  for (let i = 0; i < 30000; i++) lib.push(`export function f${i}(x) { return x * ${(i * 2654435761) % 1000003} + ${i}; }`);
  writeFileSync(join(dir, 'src', 'lib.js'), lib.join('\n'));
  writeFileSync(join(dir, 'src', 'main.sh'), `#!/bin/sh\necho "hello from release ${release}"\n`);
  writeFileSync(join(dir, 'Dockerfile'), 'FROM demo-base:1\nCOPY src /app/\nRUN chmod +x /app/main.sh && echo built > /app/built.txt\nCMD ["/app/main.sh"]\n');
}

export async function dockerDemo() {
  const root = mkdtempSync('/tmp/rdd-');
  const { engine, pid } = await startEngine(root);
  try {
    // A runnable base: static busybox and its applets.
    const rootfs = join(root, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'echo', 'cat', 'chmod', 'ls']) symlinkSync('busybox', join(rootfs, 'bin', a));
    await engine.importImage(Readable.from([tarOf(rootfs)]), 'demo-base:1');
    const ids = {};
    for (const release of [1, 2]) {
      const ctx = join(root, `ctx${release}`);
      writeApp(ctx, release);
      ids[release] = await engine.buildImage(Readable.from([tarOf(ctx)]), `demo-app:${release}`);
      await pipeline(await engine.saveImages([`demo-app:${release}`]), createWriteStream(join(root, `app${release}.tar`)));
    }
    console.log(`built demo-app:1 and demo-app:2 with the engine (a one-line source change)`);

    // Server side: the delta between the two whole images.
    const s = await diffImages(join(root, 'app1.tar'), join(root, 'app2.tar'), join(root, 'update.rdimg'));
    // Device side: it has release 1; rebuild release 2 from it, streamed straight into docker load.
    await engine.removeImage('demo-app:2');
    await applyImageDelta(join(root, 'app1.tar'), join(root, 'update.rdimg'), (chunks) => engine.loadImage(Readable.from(chunks)), { omitOldLayers: true });
    const loaded = await engine.inspectImage('demo-app:2');
    const run = await engine.run('demo-app:2', ['/app/main.sh']);
    const ok = loaded?.Id === ids[2] && run.stdout.trim() === 'hello from release 2';
    console.log(`image delta: ${kib(s.deltaBytes)}; a docker pull would move ${kib(s.pullBytes)} (${(s.pullBytes / s.deltaBytes).toFixed(0)}x more)`);
    console.log(`loaded demo-app:2 as ${loaded?.Id.slice(0, 19)}… (${loaded?.Id === ids[2] ? 'the exact image ID' : 'WRONG ID'}); it runs: ${run.stdout.trim()}`);
    return ok;
  } finally {
    await stopEngine(pid);
    rmSync(root, { recursive: true, force: true });
  }
}
