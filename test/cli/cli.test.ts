import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveFileName } from '../../src/docker/delta-server.js';
import { cliPath, ensureBuilt, runCli } from '../helpers/cli.js';
import { dockerLegacyTar, fixtureImage, tarBytes } from '../helpers/image-fixtures.js';
import { freePort } from '../helpers/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-cli-'));
const p = (n: string) => join(dir, n);
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(() => {
  ensureBuilt();
  const basis = Buffer.alloc(3_000_000).map((_, i) => (i * 2246822519) >>> 24);
  writeFileSync(p('old'), basis);
  writeFileSync(p('new'), Buffer.concat([basis.subarray(0, 1_000_000), Buffer.from('edited!'), basis.subarray(1_000_100)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rolldelta CLI', () => {
  it('signature, delta and patch round-trip files', () => {
    expect(runCli(['signature', p('old'), p('old.sig')]).status).toBe(0);
    expect(runCli(['delta', p('old.sig'), p('new'), p('d')]).status).toBe(0);
    expect(runCli(['patch', p('old'), p('d'), p('out')]).status).toBe(0);
    expect(sha(p('out'))).toBe(sha(p('new')));
    expect(readFileSync(p('d')).length).toBeLessThan(50_000);
  });

  it('uses - for stdin and stdout', () => {
    const sig = runCli(['signature', '-', '-'], readFileSync(p('old')));
    expect(sig.status).toBe(0);
    const d = runCli(['delta', '-', p('new'), '-'], sig.stdout);
    expect(d.status).toBe(0);
    const out = runCli(['patch', p('old'), '-', '-'], d.stdout);
    expect(out.status).toBe(0);
    expect(createHash('sha256').update(out.stdout).digest('hex')).toBe(sha(p('new')));
  });

  it('diff then patch; --level is accepted', () => {
    expect(runCli(['diff', '--level', '9', p('old'), p('new'), p('d2')]).status).toBe(0);
    expect(runCli(['patch', p('old'), p('d2'), p('out2')]).status).toBe(0);
    expect(sha(p('out2'))).toBe(sha(p('new')));
  });

  it('exits 1 with a one-line message on a corrupt delta and writes nothing', () => {
    const bad = Buffer.from(readFileSync(p('d2')));
    bad[Math.floor(bad.length / 2)] ^= 0x10;
    writeFileSync(p('bad'), bad);
    const r = runCli(['patch', p('old'), p('bad'), p('never')]);
    expect(r.status).toBe(1);
    const lines = r.stderr.toString().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^rolldelta: .*\(ERR_[A-Z_]+\)$/);
    expect(existsSync(p('never'))).toBe(false);
  });

  it('exits 1 with ERR_BASIS_MISMATCH when patching the wrong basis', () => {
    const r = runCli(['patch', p('new'), p('d2'), p('never')]);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toContain('ERR_BASIS_MISMATCH');
    expect(existsSync(p('never'))).toBe(false);
  });

  it('exits 2 on bad usage, 0 on --help and --version', () => {
    expect(runCli(['delta', p('old.sig')]).status).toBe(2);
    expect(runCli(['frobnicate']).status).toBe(2);
    expect(runCli(['signature', '--block-size', 'x', p('old'), p('s')]).status).toBe(2);
    expect(runCli(['signature', '--nope', p('old'), p('s')]).status).toBe(2);
    const help = runCli(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout.toString()).toContain('rolldelta patch');
    expect(runCli(['--version']).stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('serve and update refuse a level outside 0-9 before anything else', () => {
    // Nothing is listened on or asked of an engine: the option is checked first.
    for (const args of [['serve', '--store', p('store'), '--images', dir, '--level', '12'], ['serve', '--store', p('store'), '--engine', '--level', '12'], ['update', '--to', 'a:2', '--server', 'http://127.0.0.1:9/delta', '--level', '12']]) {
      const r = runCli(args);
      expect(r.status, args[0]).toBe(2);
      expect(r.stderr.toString().split('\n')[0]).toBe('rolldelta: --level takes a whole number from 0 to 9, got "12"');
    }
  });

  it('update --server that is not an http(s) URL is bad usage (exit 2) named by its flag', () => {
    for (const url of ['ftp://deltas/delta', 'deltas:8080/delta', 'not a url']) {
      const r = runCli(['update', '--to', 'a:2', '--server', url]);
      expect(r.status, url).toBe(2);
      expect(r.stderr.toString().split('\n')[0]).toBe(`rolldelta: --server takes an http: or https: URL such as http://deltas:8080/delta, got ${JSON.stringify(url)}`);
    }
  });

  it('serve --help and -h print its usage: the archive naming rule and the query', () => {
    for (const flag of ['--help', '-h']) {
      const r = runCli(['serve', flag]);
      expect(r.status, flag).toBe(0);
      const out = r.stdout.toString();
      expect(out).toMatch(/^usage: rolldelta serve --store DIR \(--images DIR \| --engine \| --registry URL\)/);
      expect(out.replace(/\s+/g, ' ')).toContain('the image NAME:TAG is the file NAME_TAG.tar, every character other than A-Z a-z 0-9 . - _ replaced by _');
      // Its examples are the names the server looks for.
      const examples = [...out.matchAll(/(\S+) -> (\S+\.tar)/g)].map((m) => [m[1].replace(/^\(/, ''), m[2]]);
      expect(examples.map(([ref]) => ref)).toEqual(['app:1', 'reg.io:5000/team/app:1.2']);
      for (const [ref, file] of examples) expect(archiveFileName(ref)).toBe(file);
      expect(out).toContain('GET /delta?from=OLD&to=NEW[&level=N]');
      expect(r.stderr.toString()).toBe('');
    }
  });

  it('serve --engine exits 1 with a one-line reason when no engine answers at DOCKER_HOST', () => {
    const sock = p('nobody-listens.sock');
    const r = spawnSync(process.execPath, [cliPath, 'serve', '--store', p('store'), '--engine', '--port', '0'], { env: { ...process.env, DOCKER_HOST: `unix://${sock}` }, timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toBe(`rolldelta: serve --engine needs a Docker Engine: cannot reach the Docker Engine at ${sock}: no such socket; start dockerd or set DOCKER_HOST=unix:///path/to/docker.sock (ERR_IO)\n`);
  });

  it('serve on a port already taken exits 1 with one line naming the address, not a stack', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      // Asynchronous: the port's holder lives in this process, which must keep answering.
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cliPath, 'serve', '--store', p('store'), '--images', dir, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`rolldelta: serve cannot listen on 127.0.0.1:${port}: the port is in use (another server, or this one still running): give another --port (ERR_IO)\n`);
    } finally {
      taken.close();
    }
  }, 20_000);

  it('serve with a missing --images folder, two sources, --keep-archives with --images, a --registry not http(s), or half a registry login is bad usage', () => {
    // Before: it started, and answered every device 404 (or took --images alone) without a word.
    // Bounded: without the checks the server starts and runs until killed.
    const serve = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'serve', '--store', p('store'), '--port', '0', ...args], { timeout: 10_000 });
    const missing = serve('--images', p('no-such-folder'));
    expect(missing.status).toBe(2);
    expect(missing.stderr.toString()).toContain(`--images ${p('no-such-folder')} is not a folder`);
    for (const two of [['--images', dir, '--engine'], ['--engine', '--registry', 'http://127.0.0.1:9'], ['--images', dir, '--registry', 'http://127.0.0.1:9']]) {
      const both = serve(...two);
      expect(both.status, two.join(' ')).toBe(2);
      expect(both.stderr.toString()).toContain('serve takes one of --images DIR, --engine and --registry URL: one source of images');
    }
    const none = serve();
    expect(none.status).toBe(2);
    expect(none.stderr.toString()).toContain('serve needs --images DIR (image archives), --engine (save images from DOCKER_HOST) or --registry URL');
    for (const url of ['127.0.0.1:5000', 'ftp://reg.io', 'http//x']) {
      const bad = serve('--registry', url);
      expect(bad.status, url).toBe(2);
      expect(bad.stderr.toString()).toContain(`--registry ${url} is not an http:// or https:// URL`);
    }
    const keep = serve('--images', dir, '--keep-archives', '3');
    expect(keep.status).toBe(2);
    expect(keep.stderr.toString()).toContain('--keep-archives is for the archives --engine and --registry cache');
    const half = spawnSync(process.execPath, [cliPath, 'serve', '--store', p('store'), '--port', '0', '--registry', 'http://127.0.0.1:9'], { env: { ...process.env, ROLLDELTA_REGISTRY_USERNAME: 'u' }, timeout: 10_000 });
    expect(half.status).toBe(2);
    expect(half.stderr.toString()).toContain('one is set without the other');
  });

  it('serve --registry exits 1 with a one-line reason when no registry answers there', async () => {
    const port = await freePort();
    const r = spawnSync(process.execPath, [cliPath, 'serve', '--store', p('store'), '--port', '0', '--registry', `http://127.0.0.1:${port}`], { timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toMatch(new RegExp(`^rolldelta: serve --registry needs a registry that answers: cannot reach the registry at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* \\(ERR_IO\\)\n$`));
  }, 20_000);

  it('--block-size and --format rdiff are honoured', () => {
    expect(runCli(['signature', '--format', 'rdiff', '--block-size', '1024', p('old'), p('r.sig')]).status).toBe(0);
    const sig = readFileSync(p('r.sig'));
    expect(sig.readUInt32BE(0)).toBe(0x72730147);
    expect(sig.readUInt32BE(4)).toBe(1024);
    expect(runCli(['delta', '--format', 'rdiff', p('r.sig'), p('new'), p('rd')]).status).toBe(0);
    expect(readFileSync(p('rd')).readUInt32BE(0)).toBe(0x72730236);
    expect(runCli(['patch', p('old'), p('rd'), p('out3')]).status).toBe(0);
    expect(sha(p('out3'))).toBe(sha(p('new')));
  });

  describe('a failure names the file that failed, as what it was given for', () => {
    const fails = (args: string[]) => {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(1);
      return r.stderr.toString().trim();
    };
    const image = (tag: string, app: string) => dockerLegacyTar([fixtureImage([tarBytes([{ type: 'file', name: 'bin/tool', data: 'x'.repeat(5000) }]), tarBytes([{ type: 'file', name: 'app/main.js', data: app }])], { repoTags: [tag] })]);

    beforeAll(() => {
      writeFileSync(p('app-v1.tar'), image('app:1', 'console.log(1)'));
      writeFileSync(p('app-v2.tar'), image('app:2', 'console.log(2)'));
      writeFileSync(p('notatar.bin'), Buffer.alloc(5000, 'not a tar '));
      mkdirSync(p('folder'));
      expect(runCli(['image', 'diff', p('app-v1.tar'), p('app-v2.tar'), p('v1-v2.rdimg')]).status).toBe(0);
      expect(runCli(['diff', p('app-v1.tar'), p('app-v2.tar'), p('v1-v2.rdelta')]).status).toBe(0);
    });

    it('a missing image delta is the delta, not the basis', () => {
      expect(fails(['image', 'apply', p('app-v1.tar'), p('nonexist.rdimg'), p('o.tar')])).toBe(`rolldelta: cannot open the image delta ${p('nonexist.rdimg')}: no such file or directory (ERR_IO)`);
    });

    it('an input that cannot be read is blamed, not the output', () => {
      expect(fails(['signature', p('folder'), p('sig.out')])).toBe(`rolldelta: cannot read the basis ${p('folder')}: it is a directory, not a file (ERR_IO)`);
      expect(existsSync(p('sig.out'))).toBe(false);
    });

    it('a file that is not an image archive is named and said to be none', () => {
      const want = `rolldelta: ${p('notatar.bin')} is not an image archive (a \`docker save\` or OCI layout tar): it does not start with a tar header (ERR_BAD_MAGIC)`;
      expect(fails(['image', 'diff', p('notatar.bin'), p('app-v2.tar'), p('x')])).toBe(want);
      expect(fails(['image', 'apply', p('notatar.bin'), p('v1-v2.rdimg'), p('x.tar')])).toBe(want);
    });

    it('a directory given as the basis is a directory, not a basis of 4096 bytes', () => {
      expect(fails(['patch', p('folder'), p('v1-v2.rdelta'), p('o')])).toBe(`rolldelta: cannot open the basis ${p('folder')}: it is a directory, not a file (ERR_IO)`);
    });

    it('a delta or signature cut short, or given for the other, is named by its path (or as standard input)', () => {
      const delta = readFileSync(p('v1-v2.rdelta'));
      writeFileSync(p('cut.rdelta'), delta.subarray(0, delta.length - 40));
      expect(runCli(['signature', p('app-v1.tar'), p('v1.sig')]).status).toBe(0);
      writeFileSync(p('cut.sig'), readFileSync(p('v1.sig')).subarray(0, 5));
      const cut = (path: string) => new RegExp(`^rolldelta: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the input ended inside .* \\(ERR_TRUNCATED\\)$`);
      expect(fails(['patch', p('app-v1.tar'), p('cut.rdelta'), p('o')])).toMatch(cut(p('cut.rdelta')));
      expect(fails(['patch', p('app-v1.tar'), p('cut.rdelta'), '-'])).toMatch(cut(p('cut.rdelta')));
      expect(fails(['patch', '--in-place', p('app-v1.tar'), p('cut.rdelta')])).toMatch(cut(p('cut.rdelta')));
      expect(fails(['delta', p('cut.sig'), p('app-v2.tar'), p('o')])).toMatch(cut(p('cut.sig')));
      expect(fails(['patch', p('app-v1.tar'), p('v1.sig'), p('o')])).toBe(`rolldelta: ${p('v1.sig')}: expected a delta (rolldelta or rdiff), but this is a native signature file; check the order of the arguments (ERR_BAD_MAGIC)`);
      expect(fails(['delta', p('v1-v2.rdelta'), p('app-v2.tar'), p('o')])).toBe(`rolldelta: ${p('v1-v2.rdelta')}: expected a signature (rolldelta or rdiff), but this is a native delta file; check the order of the arguments (ERR_BAD_MAGIC)`);
      const fromStdin = runCli(['patch', p('app-v1.tar'), '-', p('o')], readFileSync(p('cut.rdelta')));
      expect(fromStdin.status).toBe(1);
      expect(fromStdin.stderr.toString()).toMatch(/^rolldelta: standard input: the input ended inside .* \(ERR_TRUNCATED\)\n$/);
      // The basis is not the delta's fault.
      expect(fails(['patch', p('app-v2.tar'), p('v1-v2.rdelta'), p('o')])).toMatch(/^rolldelta: this delta was made against a basis with SHA-256 /);
      expect(existsSync(p('o'))).toBe(false);
    });

    it('an image delta given to patch says to apply it with image apply', () => {
      expect(fails(['patch', p('app-v1.tar'), p('v1-v2.rdimg'), p('o')])).toMatch(new RegExp(`^rolldelta: ${p('v1-v2.rdimg')}: this is an image delta, .*\`rolldelta image apply OLD.tar DELTA NEW.tar\`.* \\(ERR_BAD_MAGIC\\)$`));
    });

    // As root, permissions do not stop reads: run as nobody to reproduce an unreadable basis.
    it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/sbin/runuser'))('a basis nobody may read is "permission denied" on the basis', () => {
      const open = p('open');
      mkdirSync(open);
      chmodSync(dir, 0o711);
      chmodSync(open, 0o777);
      writeFileSync(join(open, 'unread.bin'), Buffer.alloc(100_000, 1), { mode: 0o000 });
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, cliPath, 'signature', join(open, 'unread.bin'), join(open, 'out.sig')]);
      expect(r.stderr.toString().trim()).toBe(`rolldelta: cannot read the basis ${join(open, 'unread.bin')}: permission denied (ERR_IO)`);
    });
  });
});
