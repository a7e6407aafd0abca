import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { Agent, get, type IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeltaStore, ImageArchive } from '../../src/index.js';
import { cliPath, ensureBuilt, runCli } from '../helpers/cli.js';
import { dockerLegacyTar, fixtureImage, tarBytes } from '../helpers/image-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-cli-edges-'));
const p = (n: string) => join(dir, n);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Text that context mixing codes slowly (~1.5 s a MiB at level 9) and that matches nothing in the basis. */
function wordsText(bytes: number, seed: number): Buffer {
  const words = ['delta', 'layer', 'image', 'device', 'update', 'archive', 'signature', 'basis', 'target', 'frame'];
  let x = seed;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = `${words[x % words.length]}${(x >>> 8) % 1000} `;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

beforeAll(() => {
  ensureBuilt();
  const basis = Buffer.alloc(3_000_000).map((_, i) => (i * 2246822519) >>> 24);
  writeFileSync(p('old'), basis);
  writeFileSync(p('new'), Buffer.concat([basis.subarray(0, 1_000_000), Buffer.from('edited!'), basis.subarray(1_000_100)]));
  expect(runCli(['diff', p('old'), p('new'), p('d')]).status).toBe(0);
  writeFileSync(p('text-new'), wordsText(6 << 20, 7));
  const base = tarBytes([{ type: 'file', name: 'etc/os-release', data: 'ID=fixture\n'.repeat(500) }]);
  const app = (v: string) => tarBytes([{ type: 'file', name: 'app/main.js', data: `console.log("${v}");\n`.repeat(300) }]);
  writeFileSync(p('v1.tar'), dockerLegacyTar([fixtureImage([base, app('one')], { repoTags: ['app:1'] })]));
  writeFileSync(p('v2.tar'), dockerLegacyTar([fixtureImage([base, app('two')], { repoTags: ['app:2'] })]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI; `onStart` gets the child once spawned. Resolves with its exit code and stderr. */
function runCliAsync(args: string[], onStart: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    onStart(child);
  });
}

/** Resolves once a temporary output file (`.NAME.*.tmp`) appears in `dir`. */
async function tempFileAppears(name: string): Promise<void> {
  for (;;) {
    if (readdirSync(dir).some((f) => f.startsWith(`.${name}.`) && f.endsWith('.tmp'))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('rolldelta CLI at its edges', () => {
  it('a reader that closes standard output early gets one line, not a stack', async () => {
    const r = await runCliAsync(['patch', p('old'), p('d'), '-'], (child) => {
      child.stdout!.once('data', () => child.stdout!.destroy());
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('rolldelta: standard output was closed by its reader before the end: the output is incomplete (ERR_IO)');
  });

  it.skipIf(!existsSync('/dev/full'))('standard output that fails otherwise (a full disk) is one line naming it, not a stack', () => {
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['patch', p('old'), p('d'), '-'], ['signature', p('old'), '-'], ['image', 'apply', p('v1.tar'), p('v1-v2.rdimg'), '-']]) {
        if (args[0] === 'image') expect(runCli(['image', 'diff', p('v1.tar'), p('v2.tar'), p('v1-v2.rdimg')]).status).toBe(0);
        const r = spawnSync(process.execPath, [cliPath, ...args], { stdio: ['ignore', full, 'pipe'] });
        expect(r.status, args[0]).toBe(1);
        expect(r.stderr.toString(), args[0]).toBe('rolldelta: cannot write standard output: no space left on the device (ERR_IO)\n');
      }
    } finally {
      closeSync(full);
    }
  });

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} stops a diff, removes its temporary file and exits ${code}`, async () => {
      const out = `stopped-${signal}.rd`;
      const r = await runCliAsync(['diff', '--level', '9', p('old'), p('text-new'), p(out)], (child) => {
        void tempFileAppears(out).then(() => child.kill(signal));
      });
      expect(r.code).toBe(code);
      expect(r.stderr.trim()).toBe(`rolldelta: stopped by ${signal}`);
      expect(readdirSync(dir).filter((f) => f.includes(out))).toEqual([]);
    }, 60_000);
  }

  it('SIGTERM stops a command stuck opening a named pipe with nothing at its other end, and leaves no temporary file', async () => {
    const noReader = p('no-reader.fifo');
    const noWriter = p('no-writer.fifo');
    execFileSync('mkfifo', [noReader, noWriter]);
    // The output a pipe no process reads; then the basis a pipe no process writes, by which time
    // the output's temporary file exists. open() waits in a thread no signal reaches.
    const cases: [string[], Promise<unknown>][] = [
      [['diff', p('old'), p('new'), noReader], new Promise((r) => setTimeout(r, 1000))],
      [['diff', noWriter, p('new'), p('stuck.rd')], tempFileAppears('stuck.rd').then(() => new Promise((r) => setTimeout(r, 300)))],
    ];
    for (const [args, stuck] of cases) {
      const r = await runCliAsync(args, (child) => {
        void stuck.then(() => child.kill('SIGTERM'));
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref(); // still there: the test fails, not hangs
      });
      expect(r.code, args.join(' ')).toBe(143);
      expect(r.stderr.trim()).toBe('rolldelta: stopped by SIGTERM');
    }
    expect(readdirSync(dir).filter((f) => f.includes('stuck.rd'))).toEqual([]);
  }, 40_000);

  it('serve stops on SIGTERM though devices keep connections open, and exits 0', async () => {
    // A stored delta far larger than the socket buffers, for a download that stalls.
    const stored = new DeltaStore(p('serve-store')).pathFor('app:1', 'app:2');
    mkdirSync(dirname(stored), { recursive: true });
    writeFileSync(stored, Buffer.alloc(64 << 20));
    const child = spawn(process.execPath, [cliPath, 'serve', '--store', p('serve-store'), '--images', dir, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /127\.0\.0\.1:(\d+)\//.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
    });
    expect(port).toBeGreaterThan(0);
    // A keep-alive connection that stays open after its answer, and a download no one reads.
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve) => get({ host: '127.0.0.1', port, path: '/delta?from=a:1', agent }, (res) => res.resume().on('end', resolve)));
    const stalled = await new Promise<IncomingMessage>((resolve) => get({ host: '127.0.0.1', port, path: '/delta?from=app:1&to=app:2' }, resolve));
    expect(stalled.statusCode).toBe(200);
    stalled.pause();
    const t0 = Date.now();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000); // the stalled download's 10 s of grace
    expect(stderr).toMatch(/Z GET \(no pair\): 400, 0 bytes in \d+ ms: the query needs to=<image reference> \(at most 512 characters\)\n/); // its log, with what the device was told
    agent.destroy();
    stalled.destroy();
  }, 30_000);

  it('--help of image, docker and update shows their own options', () => {
    const cases: Array<[string[], string]> = [
      [['image', '--help'], '--old-image REF'],
      [['image', 'diff', '--help'], '--old-image REF'],
      [['image', 'apply', '-h'], '--omit-old-layers'],
      [['docker', '--help'], 'rolldelta docker apply'],
      [['docker', 'apply', '--help'], '--tag NEW'],
      [['update', '--help'], '--retry-interval S'],
      [['update', '--help'], '--max-delta-bytes N'],
      [['update', '--help'], '--work-dir DIR'],
      [['update', '--help'], '--engine-wait S'],
      [['update', '--help'], '--json'],
    ];
    for (const [args, shows] of cases) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout.toString(), args.join(' ')).toContain(shows);
    }
  });

  it('an option value out of range is bad usage (exit 2) named by its flag', () => {
    const cases: Array<[string[], string]> = [
      [['diff', '--level', '12', p('old'), p('new'), p('x')], '--level takes a whole number from 0 to 9, got "12"'],
      [['delta', '--level', '-1', p('old'), p('new'), p('x')], '--level takes a whole number from 0 to 9, got "-1"'],
      [['signature', '-b', '0', p('old'), p('x')], '--block-size takes a whole number from 1 to 16777216, got "0"'],
      [['update', '--engine-wait', '-1', '--to', 'app:2', '--server', 'http://deltas:8080/delta'], '--engine-wait takes a whole number of at least 0, got "-1"'],
      [['signature', '-S', '0', p('old'), p('x')], '--sum-size takes -1 or a whole number from 1 to 32 with --hash sha256, got 0'],
      [['signature', '-H', 'md4', '-S', '17', p('old'), p('x')], '--sum-size takes -1 or a whole number from 1 to 16 with --hash md4, got 17'],
      [['signature', '--format', 'rdiff', '-H', 'sha256', p('old'), p('x')], '--hash sha256 is not in the rdiff format: use --hash blake2 (its default) or md4'],
      [['diff', '--workers', '99', p('old'), p('new'), p('x')], '--workers takes auto or a whole number from 1 to 64, got "99"'],
      [['diff', '--in-place', '--in-place-stash', '-5', p('old'), p('new'), p('x')], '--in-place-stash takes a whole number of at least 0, got "-5"'],
      [['diff', '--in-place-stash', '5', p('old'), p('new'), p('x')], '--in-place-stash is for diff --in-place only'],
      [['patch', '--workers', 'two', p('old'), p('x'), p('y')], '--workers takes auto or a whole number from 1 to 64, got "two"'],
      [['patch', '--in-place', '--workers', '2', p('old'), p('x')], 'patch --in-place plans and writes on one thread: leave out --workers'],
      [['image', 'apply', '--workers', '0.5', p('v1.tar'), p('x'), p('y')], '--workers takes auto or a whole number from 1 to 64, got "0.5"'],
      [['update', '--workers', '65', '--to', 'a:2', '--server', 'http://127.0.0.1:9/delta'], '--workers takes auto or a whole number from 1 to 64, got "65"'],
      [['image', 'diff', '--level', '10', p('v1.tar'), p('v2.tar'), p('x')], '--level takes a whole number from 0 to 9, got "10"'],
      [['update', '--retries', '0', '--to', 'a:2', '--server', 'http://127.0.0.1:9/delta'], '--retries takes a whole number of at least 1, got "0"'],
      [['update', '--max-delta-bytes', '0', '--to', 'a:2', '--server', 'http://127.0.0.1:9/delta'], '--max-delta-bytes takes a whole number of at least 1, got "0"'],
    ];
    for (const [args, says] of cases) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.toString().split('\n')[0], args.join(' ')).toBe(`rolldelta: ${says}`);
    }
    expect(existsSync(p('x'))).toBe(false);
  });

  it('an output that is a named pipe (or a device: /dev/null, /dev/stdout) is written to, not replaced by a file', () => {
    const small = Buffer.from('a small basis, whose signature and patch fit in a pipe\n'.repeat(100));
    writeFileSync(p('small-old'), small);
    writeFileSync(p('small-new'), Buffer.concat([small, Buffer.from('and a new line\n')]));
    expect(runCli(['diff', p('small-old'), p('small-new'), p('small.rd')]).status).toBe(0);
    const fifo = p('out.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [args, want] of [[['signature', p('small-old'), fifo], undefined], [['patch', p('small-old'), p('small.rd'), fifo], readFileSync(p('small-new'))]] as const) {
      // A reader opened without blocking, so the command's open for writing does not wait; what it
      // writes (less than a pipe holds) waits in the pipe.
      const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const r = runCli([...args]);
        expect(r.status, r.stderr.toString()).toBe(0);
        expect(statSync(fifo).isFIFO(), args[0]).toBe(true);
        const got = Buffer.alloc(1 << 16);
        const n = readSync(reader, got);
        if (want) expect(got.subarray(0, n).equals(want)).toBe(true);
        else expect(n).toBeGreaterThan(0);
      } finally {
        closeSync(reader);
      }
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('.out.fifo.'))).toEqual([]);
  });

  it.skipIf(!existsSync('/proc/self/fd'))('an output that names standard output (/dev/stdout) redirected to a file writes that file, not a file over the link', () => {
    const small = Buffer.from('a basis patched to standard output through its /proc link\n'.repeat(100));
    writeFileSync(p('link-old'), small);
    writeFileSync(p('link-new'), Buffer.concat([small, Buffer.from('and a new line\n')]));
    expect(runCli(['diff', p('link-old'), p('link-new'), p('link.rd')]).status).toBe(0);
    // /dev/stdout itself is such a link: one of our own, so that a regression cannot replace the system's.
    symlinkSync('/proc/self/fd/1', p('stdout-link'));
    const out = openSync(p('redirected'), 'w');
    try {
      const r = spawnSync(process.execPath, [cliPath, 'patch', p('link-old'), p('link.rd'), p('stdout-link')], { stdio: ['ignore', out, 'pipe'] });
      expect(r.status, r.stderr.toString()).toBe(0);
    } finally {
      closeSync(out);
    }
    expect(lstatSync(p('stdout-link')).isSymbolicLink()).toBe(true);
    expect(readFileSync(p('redirected')).equals(readFileSync(p('link-new')))).toBe(true);
  });

  it('image diff and image apply use - for standard input and output', async () => {
    const diffed = runCli(['image', 'diff', p('v1.tar'), p('v2.tar'), '-']);
    expect(diffed.status, diffed.stderr.toString()).toBe(0);
    expect(runCli(['image', 'diff', p('v1.tar'), p('v2.tar'), p('v1-v2.rdimg')]).status).toBe(0);
    expect(sha(diffed.stdout)).toBe(sha(readFileSync(p('v1-v2.rdimg'))));
    const applied = runCli(['image', 'apply', p('v1.tar'), '-', '-'], diffed.stdout);
    expect(applied.status, applied.stderr.toString()).toBe(0);
    expect(runCli(['image', 'apply', p('v1.tar'), p('v1-v2.rdimg'), p('v2-out.tar')]).status).toBe(0);
    expect(sha(applied.stdout)).toBe(sha(readFileSync(p('v2-out.tar'))));
    writeFileSync(p('v2-stdout.tar'), applied.stdout);
    const archive = await ImageArchive.open(p('v2-stdout.tar'));
    expect(archive.images.map((i) => i.repoTags)).toEqual([['app:2']]);
    await archive.close();
    expect(existsSync(join(process.cwd(), '-'))).toBe(false);
    const r = runCli(['image', 'apply', '-', p('v1-v2.rdimg'), p('never.tar')]);
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toContain('image apply reads OLD.tar at random positions');
  });
});
