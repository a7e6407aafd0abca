// Once any ArrayBuffer is detached in a thread (transferred to a worker, or read through fetch's
// web streams), V8 checks every typed-array access in that thread for detached buffers from then
// on: context mixing decodes 15-18% slower, the diff index fills 20% slower. These runs trace V8's
// protector invalidations and expect none, in the main thread or the workers.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, ensureBuilt } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rolldelta-detach-'));
const p = (n: string) => join(dir, n);
const TRACE = '--trace-protector-invalidation';
const DETACHED = 'ArrayBufferDetaching';

/** Text-like bytes: level 9 codes them by context mixing, in several frames. */
function text(n: number, seed: number): Buffer {
  const words = ['layer', 'delta', 'image', 'frame', 'basis', 'target', 'copy', 'literal', 'device', 'server'];
  const out: string[] = [];
  let x = seed;
  for (let len = 0; len < n; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[x % words.length]! + (x % 7 === 0 ? '\n' : ' ');
    out.push(w);
    len += w.length;
  }
  return Buffer.from(out.join('')).subarray(0, n);
}

function traced(args: string[], input?: Uint8Array): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [TRACE, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 24 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  ensureBuilt();
  writeFileSync(p('old'), text(1 << 20, 1));
  writeFileSync(p('new'), Buffer.concat([text(1 << 20, 1).subarray(0, 500_000), text(2 << 20, 2)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('no ArrayBuffer is detached', () => {
  it('by worker threads: diff --level 9 and signature from stdin on two threads', () => {
    const diff = traced([cliPath, 'diff', '--level', '9', '--workers', '2', p('old'), p('new'), p('d')]);
    expect(diff.status, diff.output).toBe(0);
    expect(diff.output).not.toContain(DETACHED);
    const sig = traced([cliPath, 'signature', '--workers', '2', '-', p('sig')], text(6 << 20, 3));
    expect(sig.status, sig.output).toBe(0);
    expect(sig.output).not.toContain(DETACHED);
    const patch = traced([cliPath, 'patch', p('old'), p('d'), p('out')]);
    expect(patch.status, patch.output).toBe(0);
    expect(patch.output).not.toContain(DETACHED);
  });

  it('by the device downloading a delta over HTTP and applying it', () => {
    const index = join(import.meta.dirname, '..', '..', 'dist', 'index.js');
    const code = `
      import { createServer } from 'node:http';
      import { readFileSync } from 'node:fs';
      import { downloadDelta, patchFile } from ${JSON.stringify(index)};
      const body = readFileSync(${JSON.stringify(p('d'))});
      const server = createServer((req, res) => res.writeHead(200, { 'content-length': body.length }).end(body));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const url = 'http://127.0.0.1:' + server.address().port + '/delta';
      await downloadDelta(url, ${JSON.stringify(p('got'))}, { requestTimeoutMs: 10000, maxBackoffMs: 100, retries: 2, retryIntervalMs: 10 });
      server.close();
      await patchFile(${JSON.stringify(p('old'))}, ${JSON.stringify(p('got'))}, ${JSON.stringify(p('out2'))});
      console.log('applied');`;
    const r = traced(['--input-type=module', '-e', code]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('applied');
    expect(r.output).not.toContain(DETACHED);
  });
});
