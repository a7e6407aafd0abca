// `rolldelta update` end to end, every part real: a private Docker Engine, the delta server run as
// `rolldelta serve` in a child process, and the update as a fleet's agent runs it, with --json.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, ensureBuilt, runCliAsync, type CliRun } from '../helpers/cli.js';
import { dockerdAvailable, requirePeer, startDockerd, type Dockerd } from '../helpers/dockerd.js';
import { buildApp, importBusybox, saveToFile } from '../helpers/images.js';
import { freePort } from '../helpers/registry.js';

const docker = requirePeer('dockerd', dockerdAvailable());

/** The human line `rolldelta update` ends with on success. */
const DONE_LINE = /^app:2 is (sha256:[0-9a-f]{64}): (.+), in (\d+\.\d) s$/;

describe.skipIf(docker.skip)(`rolldelta update --json against a real engine and rolldelta serve ${docker.message}`, () => {
  let d: Dockerd;
  let dir: string;
  let serve: ChildProcess | undefined;
  /** What `rolldelta serve` has written on stderr so far: a line per request answered. */
  let serveLog = '';
  let deltaUrl: string;
  let images: string;

  const update = (args: string[]): Promise<CliRun> => runCliAsync(['update', ...args, '--json'], { DOCKER_HOST: `unix://${d.socketPath}` });
  const lines = (text: string) => text.split('\n').filter((l) => l !== '');

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'rolldelta-update-cli-'));
    d = await startDockerd();
    await importBusybox(d.engine, 'rd-base:1');
    const lib = Array.from({ length: 20000 }, (_, i) => `line ${i}: ${(i * 2654435761) % 1000003}`).join('\n');
    await buildApp(d.engine, 'rd-base:1', 'app:1', { 'lib.txt': lib, 'main.txt': 'release 1\n' });
    await buildApp(d.engine, 'rd-base:1', 'app:2', { 'lib.txt': lib, 'main.txt': 'release 2\n' });
    images = join(dir, 'images');
    mkdirSync(images);
    await saveToFile(d.engine, ['app:1'], join(images, 'app_1.tar'));
    await saveToFile(d.engine, ['app:2'], join(images, 'app_2.tar'));
    await d.engine.removeImage('app:2', { force: true }); // the device has release 1 only
    deltaUrl = await startServe(['--store', join(dir, 'store'), '--images', images, '--port', '0', '--level', '6']);
  }, 120_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `rolldelta serve` and resolves with its delta URL once it says it listens (on the port the system chose). */
  function startServe(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cliPath, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      serve = child;
      // Read to the end: a full pipe would stall the server's logging, and with it the server.
      child.stderr!.on('data', (c: Buffer) => {
        serveLog += c.toString();
        const m = /serving deltas on (http:\/\/127\.0\.0\.1:\d+\/delta)/.exec(serveLog);
        if (m) resolve(m[1]);
      });
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`rolldelta serve exited (${code}) before listening:\n${serveLog}`)));
    });
  }

  it('updates by delta: one JSON line on stdout with the engine\'s image ID, the human line last on stderr', async () => {
    // --workers reaches the apply (this level 6 delta has no frame for them: it patches as without).
    const r = await update(['--from', 'app:1', '--to', 'app:2', '--server', deltaUrl, '--workers', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1);
    const out = JSON.parse(r.stdout);
    const id = (await d.engine.inspectImage('app:2'))?.Id;
    expect(id).toMatch(/^sha256:/);
    expect(out).toMatchObject({ to: 'app:2', action: 'delta', imageId: id, from: 'app:1' });
    expect(out.deltaBytes).toBeGreaterThan(0);
    expect(Object.keys(out)).toEqual(['to', 'action', 'imageId', 'from', 'deltaBytes', 'seconds']);
    const done = DONE_LINE.exec(lines(r.stderr).at(-1)!);
    expect(done, r.stderr).not.toBeNull();
    expect(done![1]).toBe(id);
    expect(done![2]).toMatch(/^by a .+ delta$/);
    expect(out.seconds).toBe(Number(done![3]));
  }, 60_000);

  it('run again: nothing to do (action "none")', async () => {
    const r = await update(['--from', 'app:1', '--to', 'app:2', '--server', deltaUrl]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({ to: 'app:2', action: 'none', imageId: (await d.engine.inspectImage('app:2'))?.Id, seconds: expect.any(Number) });
    expect(lines(r.stderr).at(-1)).toMatch(/^app:2 is sha256:[0-9a-f]{64}: already present, in \d+\.\d s$/);
  }, 30_000);

  it('with stdout\'s reader gone (an agent restarted), the update still ends as it went: exit 0, why the JSON is missing last on stderr, no stack', async () => {
    const child = spawn(process.execPath, [cliPath, 'update', '--from', 'app:1', '--to', 'app:2', '--server', deltaUrl, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_HOST: `unix://${d.socketPath}` },
    });
    child.stdout!.destroy(); // the read end closed before the CLI writes: its write fails with EPIPE
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code, stderr).toBe(0);
    expect(lines(stderr).slice(-2)).toEqual([expect.stringMatching(DONE_LINE), 'rolldelta: the JSON outcome was not printed: standard output is closed (EPIPE)']);
  }, 30_000);

  it('--moving-tag: nothing while the server says the tag names the image here (one HEAD), the delta from it by ID once the tag moved', async () => {
    const [one, two] = [(await d.engine.inspectImage('app:1'))!.Id, (await d.engine.inspectImage('app:2'))!.Id];
    await d.engine.removeImage('app:2', { force: true }); // release 2 comes by the delta alone
    await d.engine.tagImage(one, 'app', 'stable');
    copyFileSync(join(images, 'app_1.tar'), join(images, 'app_stable.tar'));
    /** The request lines `rolldelta serve` logged during `run`. */
    const requestsDuring = async (run: () => Promise<CliRun>) => {
      const before = serveLog.length;
      const r = await run();
      await new Promise((r) => setTimeout(r, 200)); // a request is logged once its connection is done
      return { r, requests: lines(serveLog.slice(before)).filter((l) => / (GET|HEAD) /.test(l)) };
    };
    const stable = ['--to', 'app:stable', '--server', deltaUrl];
    const fixed = await requestsDuring(() => update(stable));
    expect(JSON.parse(fixed.r.stdout)).toMatchObject({ action: 'none', imageId: one });
    expect(fixed.requests).toEqual([]);
    const same = await requestsDuring(() => update(['--moving-tag', ...stable]));
    expect(same.r.code, same.r.stderr).toBe(0);
    expect(JSON.parse(same.r.stdout)).toMatchObject({ action: 'none', imageId: one });
    expect(same.requests).toEqual([expect.stringContaining(`HEAD ${one} -> app:stable: 204, 0 bytes`)]);
    // Release 2 pushed under the tag: the device updates from the image it has, named by ID.
    copyFileSync(join(images, 'app_2.tar'), join(images, 'app_stable.tar'));
    const moved = await update(['--moving-tag', ...stable]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(JSON.parse(moved.stdout)).toMatchObject({ action: 'delta', imageId: two, from: one });
    expect((await d.engine.run('app:stable', ['cat', '/app/main.txt'])).stdout).toBe('release 2\n');
    expect(JSON.parse((await update(['--moving-tag', ...stable])).stdout)).toMatchObject({ action: 'none', imageId: two });
  }, 60_000);

  it('a failed update (no delta server, no registry): exit 1, the error and both failures as JSON, the usual reason on stderr', async () => {
    const dead = await freePort();
    const to = `127.0.0.1:${dead}/app:3`; // nothing listens there: the fallback pull fails at once
    const fast = ['--retries', '1', '--retry-interval', '0', '--request-timeout', '2', '--engine-wait', '0'];
    const r = await update(['--from', 'app:1', '--to', to, '--server', `http://127.0.0.1:${dead}/delta`, ...fast]);
    expect(r.code, r.stderr).toBe(1);
    expect(lines(r.stdout)).toHaveLength(1);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['to', 'error', 'deltaError', 'pullError']);
    expect(out.to).toBe(to);
    expect(out.error).toEqual({ code: expect.stringMatching(/^ERR_[A-Z_]+$/), message: expect.stringContaining('the fallback pull of') });
    expect(out.deltaError).toEqual({ code: expect.stringMatching(/^ERR_/), message: expect.stringContaining('cannot reach the delta server') });
    expect(out.pullError.message).toContain(to);
    // stderr as without --json: the progress lines, then main's one-line reason, message and code.
    expect(lines(r.stderr).at(-1)).toBe(`rolldelta: ${out.error.message} (${out.error.code})`);
    const plain = await runCliAsync(['update', '--from', 'app:1', '--to', to, '--server', `http://127.0.0.1:${dead}/delta`, ...fast], { DOCKER_HOST: `unix://${d.socketPath}` });
    expect(plain).toEqual({ code: 1, stdout: '', stderr: r.stderr });
  }, 30_000);
});
