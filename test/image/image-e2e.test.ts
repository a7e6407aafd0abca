// Image deltas against a real Docker Engine: build two releases, `docker save` both, diff, apply,
// `docker load` the result and run it. Also skopeo's OCI archives, a wrong old image and a
// corrupted delta.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageArchive, applyImageDelta, diffImages, type ImageDiffSummary } from '../../src/index.js';
import { dockerdAvailable, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { busyboxRootfsTar, buildApp, importBusybox, saveToFile } from '../helpers/images.js';
import { imageCommand } from '../../src/cli/image-commands.js';
import { cliPath, ensureBuilt } from '../helpers/cli.js';
import { peer } from '../helpers/peers.js';

const docker = requirePeer('dockerd', dockerdAvailable());

/** An app source tree of some size, so that a one-character edit is small against it. */
function appFiles(edit: string): Record<string, string> {
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(`export const value${i} = ${(i * 2654435761) % 1000003}; // line ${i}`);
  return {
    'src/main.js': `console.log("release ${edit}");\n`,
    'src/lib.js': lines.join('\n'),
    'package.json': JSON.stringify({ name: 'app', version: '1.0.0' }),
  };
}

/** A copy of a ustar archive with every entry's mtime set to `mtime`: the same files, rebuilt. */
function withMtime(tar: Uint8Array, mtime: number): Uint8Array {
  const out = tar.slice();
  for (let p = 0; p + 512 <= out.length && out[p] !== 0; ) {
    out.set(new TextEncoder().encode(mtime.toString(8).padStart(11, '0') + '\0'), p + 136);
    out.fill(0x20, p + 148, p + 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += out[p + i];
    out.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), p + 148);
    const size = parseInt(new TextDecoder().decode(out.subarray(p + 124, p + 135)), 8);
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe.skipIf(docker.skip)(`image deltas with a real Docker Engine ${docker.message}`, () => {
  let d: Dockerd;
  let dir: string;
  const p = (n: string) => join(dir, n);
  let v1Id: string;
  let v2Id: string;
  let summary: ImageDiffSummary & { pullBytes: number };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rolldelta-image-'));
    d = await startDockerd();
    await importBusybox(d.engine, 'rd-base:1');
    const recipe = 'COPY . /app/\nRUN echo built > /built.txt';
    v1Id = await buildApp(d.engine, 'rd-base:1', 'rd-app:1', appFiles('A'), recipe);
    v2Id = await buildApp(d.engine, 'rd-base:1', 'rd-app:2', appFiles('B'), recipe);
    await saveToFile(d.engine, ['rd-app:1'], p('v1.tar'));
    await saveToFile(d.engine, ['rd-app:2'], p('v2.tar'));
    summary = await diffImages(p('v1.tar'), p('v2.tar'), p('v1-v2.rdimg'), { measurePull: true });
    // More releases from v1: a new file; the base rebuilt (same files, new mtimes); squashed.
    await buildApp(d.engine, 'rd-base:1', 'rd-app:3', { ...appFiles('A'), 'src/extra.js': 'export const extra = 1;\n' }, recipe);
    await d.engine.importImage(Readable.from([withMtime(busyboxRootfsTar(), 1_800_000_000)]), 'rd-base:2');
    await buildApp(d.engine, 'rd-base:2', 'rd-app:rebased', appFiles('A'), recipe);
    const host = ['-H', `unix://${d.socketPath}`];
    execFileSync('docker', [...host, 'create', '--name', 'rd-flat', 'rd-app:1', 'true'], { stdio: 'ignore' });
    const flat = execFileSync('docker', [...host, 'export', 'rd-flat'], { maxBuffer: 1 << 30 });
    await d.engine.importImage(Readable.from([flat]), 'rd-app:squashed');
  }, 240_000);

  afterAll(async () => {
    await d?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads docker save archives: IDs and DiffIDs as the engine reports, layers hash to their DiffIDs', async () => {
    const a = await ImageArchive.open(p('v2.tar'));
    try {
      const img = a.image();
      const inspect = await d.engine.inspectImage('rd-app:2');
      expect(img.id).toBe(inspect!.Id);
      expect(img.repoTags).toEqual(['rd-app:2']);
      expect(img.layers.map((l) => l.diffId)).toEqual(inspect!.RootFS?.Layers);
      for (const layer of img.layers) {
        const h = createHash('sha256');
        for await (const c of a.layerStream(layer)) h.update(c);
        expect(`sha256:${h.digest('hex')}`).toBe(layer.diffId);
      }
    } finally {
      await a.close();
    }
  });

  it('makes a delta far smaller than the pull: the base is reused, the app layers are diffed', () => {
    console.log(`image delta ${summary.deltaBytes} bytes; pull ${summary.pullBytes} bytes; ${summary.sentLayers} sent, ${summary.reusedLayers} reused`);
    expect(summary.reusedLayers).toBe(1);
    expect(summary.sentLayers).toBe(2);
    expect(summary.deltaBytes * 20).toBeLessThan(summary.pullBytes);
  });

  it('applies into an archive that docker load accepts, with the new image ID, and that runs', async () => {
    const { imageId } = await applyImageDelta(p('v1.tar'), p('v1-v2.rdimg'), p('v2-rebuilt.tar'));
    expect(imageId).toBe(v2Id);
    await d.engine.removeImage('rd-app:2');
    const { loaded } = await d.engine.loadImage(Readable.from([readFileSync(p('v2-rebuilt.tar'))]));
    expect(loaded).toContain('rd-app:2');
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
    const run = await d.engine.run('rd-app:2', ['cat', '/app/src/main.js']);
    expect(run.stdout).toBe('console.log("release B");\n');
  });

  it('leaves out the layers the engine has, and that archive loads too', async () => {
    await applyImageDelta(p('v1.tar'), p('v1-v2.rdimg'), p('v2-thin.tar'), { omitOldLayers: true });
    expect(readFileSync(p('v2-thin.tar')).length).toBeLessThan(readFileSync(p('v2-rebuilt.tar')).length);
    await d.engine.removeImage('rd-app:2');
    const { loaded } = await d.engine.loadImage(Readable.from([readFileSync(p('v2-thin.tar'))]));
    expect(loaded).toContain('rd-app:2');
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
  });

  it('streams straight into docker load, without a copy on disk', async () => {
    await d.engine.removeImage('rd-app:2');
    await applyImageDelta(p('v1.tar'), p('v1-v2.rdimg'), (chunks) => d.engine.loadImage(Readable.from(chunks)), { omitOldLayers: true });
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
  });

  it('rolldelta docker diff and docker apply work on images in the engine', async () => {
    ensureBuilt();
    const cli = (...args: string[]) => spawnSync(process.execPath, [cliPath, ...args], { env: { ...process.env, DOCKER_HOST: `unix://${d.socketPath}` } });
    if (!(await d.engine.hasImage('rd-app:2'))) await d.engine.loadImage(Readable.from([readFileSync(p('v2.tar'))]));
    const diff = cli('docker', 'diff', 'rd-app:1', 'rd-app:2', p('cli.rdimg'));
    expect(diff.status, diff.stderr.toString()).toBe(0);
    expect(diff.stderr.toString()).toMatch(/^image delta: [^;\n]+; a pull would move [^;\n]+\n$/);
    await d.engine.removeImage('rd-app:2');
    const apply = cli('docker', 'apply', '--tag', 'rd-app:again', 'rd-app:1', p('cli.rdimg'));
    expect(apply.status, apply.stderr.toString()).toBe(0);
    expect((await d.engine.inspectImage('rd-app:again'))!.Id).toBe(v2Id);
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
  });

  it('rolldelta docker diff writes DELTA - to standard output (--no-pull-size: no pull figure), and docker apply reads it from standard input', async () => {
    ensureBuilt();
    const cli = (args: string[], input?: Uint8Array) => spawnSync(process.execPath, [cliPath, ...args], { input, cwd: dir, maxBuffer: 1 << 30, env: { ...process.env, DOCKER_HOST: `unix://${d.socketPath}` } });
    if (!(await d.engine.hasImage('rd-app:2'))) await d.engine.loadImage(Readable.from([readFileSync(p('v2.tar'))]));
    const diff = cli(['docker', 'diff', '--no-pull-size', 'rd-app:1', 'rd-app:2', '-']);
    expect(diff.status, diff.stderr.toString()).toBe(0);
    expect(diff.stderr.toString()).toMatch(/^image delta: [^;\n]+\n$/);
    expect(diff.stdout.subarray(0, 4).toString()).toBe('rdim');
    expect(existsSync(p('-'))).toBe(false); // not a file named "-"
    await d.engine.removeImage('rd-app:2');
    const apply = cli(['docker', 'apply', '--tag', 'rd-app:from-stdin', 'rd-app:1', '-'], diff.stdout);
    expect(apply.status, apply.stderr.toString()).toBe(0);
    expect((await d.engine.inspectImage('rd-app:from-stdin'))!.Id).toBe(v2Id);
  });

  it('rolldelta docker apply onto the wrong image names that image, not the file it was saved to', async () => {
    ensureBuilt();
    if (!(await d.engine.hasImage('rd-app:2'))) await d.engine.loadImage(Readable.from([readFileSync(p('v2.tar'))]));
    const r = spawnSync(process.execPath, [cliPath, 'docker', 'apply', 'rd-app:2', p('v1-v2.rdimg')], { env: { ...process.env, DOCKER_HOST: `unix://${d.socketPath}` } });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toBe(`rolldelta: this delta was made against image ${v1Id}, but image rd-app:2 holds ${v2Id}; apply it to the image it was made from (ERR_BASIS_MISMATCH)\n`);
  });

  it('refuses the wrong old image before writing anything', async () => {
    await expect(applyImageDelta(p('v2.tar'), p('v1-v2.rdimg'), p('never.tar'))).rejects.toMatchObject({ code: 'ERR_BASIS_MISMATCH' });
    expect(existsSync(p('never.tar'))).toBe(false);
  });

  it('a corrupted delta fails with a RolldeltaError and leaves no output', async () => {
    const bad = Buffer.from(readFileSync(p('v1-v2.rdimg')));
    bad[bad.length - 100] ^= 0x40;
    writeFileSync(p('bad.rdimg'), bad);
    await expect(applyImageDelta(p('v1.tar'), p('bad.rdimg'), p('never2.tar'))).rejects.toMatchObject({ name: 'RolldeltaError' });
    expect(existsSync(p('never2.tar'))).toBe(false);
  });

  it('takes the delta as a stream and leaves out the layers listed', async () => {
    const base = (await d.engine.inspectImage('rd-base:1'))!.RootFS!.Layers![0];
    async function* download(): AsyncGenerator<Uint8Array> {
      const bytes = readFileSync(p('v1-v2.rdimg'));
      for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000);
    }
    await applyImageDelta(p('v1.tar'), download(), p('v2-listed.tar'), { omitLayers: [base] });
    await d.engine.removeImage('rd-app:2').catch(() => {});
    await d.engine.loadImage(Readable.from([readFileSync(p('v2-listed.tar'))]));
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
  });

  it('rolldelta image diff and image apply (the CLI commands) round-trip', async () => {
    await imageCommand(['diff', '--level', '6', p('v1.tar'), p('v2.tar'), p('cli-image.rdimg')]);
    await imageCommand(['apply', '--omit-old-layers', p('v1.tar'), p('cli-image.rdimg'), p('cli-out.tar')]);
    await d.engine.removeImage('rd-app:2').catch(() => {});
    await d.engine.loadImage(Readable.from([readFileSync(p('cli-out.tar'))]));
    expect((await d.engine.inspectImage('rd-app:2'))!.Id).toBe(v2Id);
    await expect(imageCommand(['frobnicate'])).rejects.toMatchObject({ name: 'UsageError' });
  });

  // Each pair: save both, diff, remove the new image, apply, docker load, same ID, and it runs.
  const pairs: Array<[string, string, string, string]> = [
    ['a new source file', 'rd-app:3', '/app/src/extra.js', 'export const extra = 1;\n'],
    ['the base rebuilt (same files, new mtimes)', 'rd-app:rebased', '/app/src/main.js', 'console.log("release A");\n'],
    ['squashed into one layer', 'rd-app:squashed', '/app/src/main.js', 'console.log("release A");\n'],
  ];
  it.each(pairs)('%s: applies, loads with the new ID, and runs', async (label, tag, file, content) => {
    const name = tag.replace(/\W/g, '_');
    const newId = (await d.engine.inspectImage(tag))!.Id;
    await saveToFile(d.engine, [tag], p(`${name}.tar`));
    const s = await diffImages(p('v1.tar'), p(`${name}.tar`), p(`${name}.rdimg`), { measurePull: true });
    console.log(`${label}: image delta ${s.deltaBytes} bytes, pull ${s.pullBytes} bytes (${s.ratio.toFixed(0)}x); ${s.newLayers} new, ${s.reusedLayers} reused layer(s)`);
    expect(s.deltaBytes * 10).toBeLessThan(s.pullBytes);
    await d.engine.removeImage(tag);
    const { imageId } = await applyImageDelta(p('v1.tar'), p(`${name}.rdimg`), p(`${name}-out.tar`), { omitLayers: 'old' });
    expect(imageId).toBe(newId);
    await d.engine.loadImage(Readable.from([readFileSync(p(`${name}-out.tar`))]));
    expect((await d.engine.inspectImage(tag))!.Id).toBe(newId);
    expect((await d.engine.run(tag, ['cat', file])).stdout).toBe(content);
  });

  const skopeo = peer('skopeo', 'skopeo');
  it.skipIf(skopeo.skip)('reads the same image from skopeo oci-archive and docker-archive conversions', async () => {
    execFileSync('skopeo', ['copy', '--quiet', `docker-archive:${p('v1.tar')}`, `oci-archive:${p('v1-oci.tar')}`]);
    execFileSync('skopeo', ['copy', '--quiet', `docker-archive:${p('v1.tar')}`, `docker-archive:${p('v1-skopeo.tar')}:rd-app:1`]);
    const ids = async (path: string) => {
      const a = await ImageArchive.open(path);
      try {
        const img = a.images[0];
        for (const layer of img.layers) {
          const h = createHash('sha256');
          for await (const c of a.layerStream(layer)) h.update(c);
          expect(`sha256:${h.digest('hex')}`).toBe(layer.diffId);
        }
        return { id: img.id, diffIds: img.layers.map((l) => l.diffId), format: a.format };
      } finally {
        await a.close();
      }
    };
    const original = await ids(p('v1.tar'));
    const oci = await ids(p('v1-oci.tar'));
    expect(oci.format).toBe('oci');
    // skopeo rewrites the config as an OCI config (a new image ID); the layers are the same.
    expect(oci.diffIds).toEqual(original.diffIds);
    expect(original.id).toBe(v1Id);
    expect((await ids(p('v1-skopeo.tar'))).diffIds).toEqual(original.diffIds);
  });
});
