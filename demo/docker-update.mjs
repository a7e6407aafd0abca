// The image-update story on a real Docker Engine: a private dockerd, two releases of a small app,
// a delta server over the saved images, and "the device" updating through it with updateImage
// (wait while the delta is generated, download, verify, apply straight into docker load), then
// the new release run. Called by demo/run.mjs when dockerd and busybox-static are installed (as root).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, createWriteStream, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { DeltaStore, ImageArchive, archiveDirectory, createDeltaServer, updateImage } from '../dist/index.js';
import { startPrivateEngine } from '../bench/_dockerd.mjs';

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

export { privateEngineUnavailable as dockerDemoUnavailable } from '../bench/_dockerd.mjs';

/** A directory tarred with GNU tar, as a build context or a rootfs. */
function tarOf(dir) {
  return execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
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

/** What `docker pull` would move for release 2 on a device with release 1: gzip of the new layers. */
async function pullSize(oldArchive, newArchive) {
  const [a, b] = [await ImageArchive.open(oldArchive), await ImageArchive.open(newArchive)];
  try {
    const have = new Set(a.image().layers.map((l) => l.diffId));
    let n = 0;
    for (const layer of b.image().layers) {
      if (have.has(layer.diffId)) continue;
      const parts = [];
      for await (const c of b.layerStream(layer)) parts.push(c);
      n += gzipSync(Buffer.concat(parts)).length;
    }
    return n;
  } finally {
    await a.close();
    await b.close();
  }
}

export async function dockerDemo() {
  const { engine, root, stop } = await startPrivateEngine();
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

    // Server side: a delta server over the two saved images, generating deltas on demand.
    const images = join(root, 'images');
    mkdirSync(images);
    copyFileSync(join(root, 'app1.tar'), join(images, 'demo-app_1.tar'));
    copyFileSync(join(root, 'app2.tar'), join(images, 'demo-app_2.tar'));
    const server = createDeltaServer({ source: archiveDirectory(images), store: new DeltaStore(join(root, 'deltas')), retryAfterSeconds: 1 });
    const http = createServer(server.handler);
    await new Promise((r) => http.listen(0, '127.0.0.1', r));
    const deltaUrl = `http://127.0.0.1:${http.address().port}/delta`;
    console.log(`serving deltas at ${deltaUrl}`);
    // Device side: it runs release 1; update to release 2 through the server.
    await engine.removeImage('demo-app:2');
    let waited = 0;
    const r = await updateImage({ engine, from: 'demo-app:1', to: 'demo-app:2', deltaUrl, onProgress: (e) => (waited += e.phase === 'waiting' ? 1 : 0) });
    await new Promise((res) => http.close(res));
    const loaded = await engine.inspectImage('demo-app:2');
    const run = await engine.run('demo-app:2', ['/app/main.sh']);
    const ok = r.action === 'delta' && loaded?.Id === ids[2] && run.stdout.trim() === 'hello from release 2';
    const pull = await pullSize(join(root, 'app1.tar'), join(root, 'app2.tar'));
    console.log(`the device was told to wait ${waited} time(s) while the server generated the delta, then downloaded it`);
    console.log(`image delta: ${kib(r.deltaBytes ?? 0)}; a docker pull would move ${kib(pull)} (${(pull / (r.deltaBytes ?? 1)).toFixed(0)}x more)`);
    console.log(`loaded demo-app:2 as ${loaded?.Id.slice(0, 19)}… (${loaded?.Id === ids[2] ? 'the exact image ID' : 'WRONG ID'}) by ${r.action}; it runs: ${run.stdout.trim()}`);
    return ok;
  } finally {
    await stop();
  }
}
