// Tests the built package as a user gets it: `npm pack`, install the tarball into a fresh project,
// then use it from ESM `import` and CommonJS `require`, as a device agent or a server would.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
let project: string;

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
  project = mkdtempSync(join(tmpdir(), 'rolldelta-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', project], { cwd: root, stdio: 'ignore' });
  const tgz = readdirSync(project).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(project, tgz)], { cwd: project, stdio: 'ignore' });
}, 180_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

const roundTrip = `
  const basis = new TextEncoder().encode('hello world, '.repeat(5000));
  const target = new TextEncoder().encode('hello there world, '.repeat(5000));
  const out = rd.patch(basis, rd.delta(rd.signature(basis), target));
  const two = rd.patch(basis, rd.diff(basis, target));
  let err; try { rd.patch(target, rd.diff(basis, target)); } catch (e) { err = e; }
  console.log(JSON.stringify({
    ok: Buffer.compare(Buffer.from(out), Buffer.from(target)) === 0 && Buffer.compare(Buffer.from(two), Buffer.from(target)) === 0,
    code: err && err.code, isClass: err instanceof rd.RolldeltaError,
  }));
`;

describe('the packed tarball', () => {
  it('works from import (ESM)', () => {
    writeFileSync(join(project, 'esm.mjs'), `import * as rd from 'rolldelta';\n${roundTrip}`);
    const r = JSON.parse(execFileSync('node', ['esm.mjs'], { cwd: project, encoding: 'utf8' }));
    expect(r).toEqual({ ok: true, code: 'ERR_BASIS_MISMATCH', isClass: true });
  });

  it('works from require (CommonJS)', () => {
    writeFileSync(join(project, 'cjs.cjs'), `const rd = require('rolldelta');\n${roundTrip}`);
    const r = JSON.parse(execFileSync('node', ['cjs.cjs'], { cwd: project, encoding: 'utf8' }));
    expect(r).toEqual({ ok: true, code: 'ERR_BASIS_MISMATCH', isClass: true });
  });

  it('runs worker threads from import and require (dist/worker.mjs shipped)', () => {
    const code = (load: string) => `${load}
      const fs = require('node:fs');
      fs.writeFileSync('basis.bin', Buffer.alloc(300000, 7));
      (async () => {
        await rd.signatureFile('basis.bin', 'one.sig');
        await rd.signatureFile('basis.bin', 'two.sig', { workers: 2 });
        console.log(JSON.stringify({ same: fs.readFileSync('one.sig').equals(fs.readFileSync('two.sig')) }));
      })();`;
    writeFileSync(join(project, 'workers.mjs'), code(`import * as rd from 'rolldelta';\nimport { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);`));
    writeFileSync(join(project, 'workers.cjs'), code(`const rd = require('rolldelta');`));
    for (const f of ['workers.mjs', 'workers.cjs']) {
      expect(JSON.parse(execFileSync('node', [f], { cwd: project, encoding: 'utf8' }))).toEqual({ same: true });
    }
  });

  it('runs worker threads from a one-file bundle (esbuild, ESM and CJS) with worker.mjs copied beside it', () => {
    // A device agent shipped as one file: its own code and rolldelta's, in a CommonJS project.
    const esbuild = createRequire(join(root, 'package.json'))('esbuild') as typeof import('esbuild');
    writeFileSync(join(project, 'agent.mjs'), `import * as rd from 'rolldelta';
      import fs from 'node:fs';
      (async () => {
        let code;
        try { await rd.signatureFile('basis.bin', 'bundled.sig', { workers: 2 }); } catch (e) { code = e.code + ' ' + /worker\.mjs/.test(e.message); }
        console.log(JSON.stringify(code ?? { same: fs.readFileSync('one.sig').equals(fs.readFileSync('bundled.sig')) }));
      })();`);
    writeFileSync(join(project, 'basis.bin'), Buffer.alloc(300000, 7));
    execFileSync('node', ['-e', "require('rolldelta').signatureFile('basis.bin', 'one.sig')"], { cwd: project });
    for (const format of ['esm', 'cjs'] as const) {
      const out = join(project, `bundle-${format}`);
      mkdirSync(out, { recursive: true });
      const file = join(out, format === 'esm' ? 'agent.mjs' : 'agent.js');
      esbuild.buildSync({ entryPoints: [join(project, 'agent.mjs')], bundle: true, platform: 'node', format, outfile: file, logLevel: 'silent' });
      expect(JSON.parse(execFileSync('node', [file], { cwd: project, encoding: 'utf8' })), `${format} without worker.mjs`).toBe('ERR_IO true');
      copyFileSync(join(project, 'node_modules', 'rolldelta', 'dist', 'worker.mjs'), join(out, 'worker.mjs'));
      expect(JSON.parse(execFileSync('node', [file], { cwd: project, encoding: 'utf8' })), format).toEqual({ same: true });
    }
  });

  it('type-checks a strict consumer (node16, nodenext, bundler; ESM and CJS) naming the option types', () => {
    // What a caller writes: README's calls, handlers annotated with the exported option types.
    const consumer = `
      import { ErrorCode, isRolldeltaError, patch, NativeDeltaDecoder, NativeDeltaEncoder, RdiffDeltaDecoder, Patcher, readImageDeltaHeaderFrom } from 'rolldelta';
      import type { JavaScriptWork, NativeDeltaDecoderOptions, NativeDeltaEncoderOptions, NativeTrailer, RdiffDeltaDecoderOptions, PatchOpsOptions, ImageDeltaHeaderOptions, PatchOptions } from 'rolldelta';
      const onWork = (kind: JavaScriptWork, bytes: number): void => console.log(kind, bytes);
      const popts: PatchOptions = { beforeJavaScriptWork: onWork };
      const dopts: NativeDeltaDecoderOptions = { beforeJavaScriptWork: onWork, onend: (t: NativeTrailer) => console.log(t) };
      const eopts: NativeDeltaEncoderOptions = {};
      const ropts: RdiffDeltaDecoderOptions = {};
      const xopts: PatchOpsOptions = {};
      const iopts: ImageDeltaHeaderOptions = {};
      try { patch(new Uint8Array(1), new Uint8Array(1), popts); } catch (e) {
        if (isRolldeltaError(e) && e.code === ErrorCode.BAD_MAGIC) console.log('not a delta');
      }
      console.log([NativeDeltaDecoder, NativeDeltaEncoder, RdiffDeltaDecoder, Patcher, readImageDeltaHeaderFrom, dopts, eopts, ropts, xopts, iopts].length);
    `;
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const strict = ['--strict', '--exactOptionalPropertyTypes', '--noUncheckedIndexedAccess', '--verbatimModuleSyntax', '--noEmit', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types')];
    for (const [file, module, resolution] of [['esm.mts', 'node16', 'node16'], ['cjs.cts', 'nodenext', 'nodenext'], ['bundled.ts', 'esnext', 'bundler']]) {
      // A .cts file under verbatimModuleSyntax writes require(); type-only imports stay as they are.
      const src = file.endsWith('.cts') ? consumer.replace(/^\s*import \{ (.*) \} from 'rolldelta';$/m, "import rd = require('rolldelta'); const { $1 } = rd;") : consumer;
      writeFileSync(join(project, file), src);
      try {
        execFileSync(tsc, [...strict, '--module', module!, '--moduleResolution', resolution!, file], { cwd: project, encoding: 'utf8' });
      } catch (e) {
        throw new Error(`${file}: ${(e as { stdout?: string }).stdout ?? String(e)}`);
      }
    }
  }, 120_000);

  it('installs the rolldelta command', () => {
    const out = execFileSync(join(project, 'node_modules', '.bin', 'rolldelta'), ['--version'], { encoding: 'utf8' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('ships types for both conditions', () => {
    const dist = readdirSync(join(project, 'node_modules', 'rolldelta', 'dist'));
    expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'cli.js', 'worker.mjs']));
  });
});
