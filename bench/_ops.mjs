// The operations the throughput bench times: rolldelta's CLI and its peers, each as a child
// process whose own peak RSS /usr/bin/time reports. A missing or failing peer gives a note, never
// an exception; a failing rolldelta operation is recorded as failed.
import { createHash } from 'node:crypto';
import { createReadStream, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { have, runTimed } from './_peers.mjs';

const MiB = 1 << 20;
const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1));
const TIMEOUT = 3600;

/** Which peers are installed, and why not when they are not. */
export function peerNotes() {
  const notes = {};
  for (const [cmd, pkg] of [['rdiff', 'rdiff'], ['zstd', 'zstd'], ['xdelta3', 'xdelta3'], ['/usr/bin/time', 'time']]) {
    if (!have(cmd)) notes[cmd] = `${cmd} is not installed (Debian package ${pkg})`;
  }
  return notes;
}

/**
 * Runs a command `repeat` times (default BENCH_REPEAT, else 1) and keeps the fastest run. `out`,
 * the file it writes, is removed before each run: every run then writes a new file, as the first
 * one does. Replacing a file just written costs this VM far more than writing one (a 1 GiB patch
 * over its own earlier output: 3.7-3.9 s, 3.0 s of it in the kernel, against 2.0-2.3 s), and the
 * bench's second patch (the rsync delta's) wrote over the first one's output, the peers never.
 * @returns {{ ok: boolean, secs: number, rssMiB: number|null, outBytes: number|null, error?: string }}
 */
export function timed(cmd, args, out, repeat = REPEAT, env = undefined) {
  let best;
  for (let i = 0; i < repeat; i++) {
    if (out) rmSync(out, { force: true });
    const r = runTimed(cmd, args, { timeoutSecs: TIMEOUT, ...(env ? { env } : {}) });
    if (!r.ok) return { ok: false, secs: r.secs, rssMiB: null, outBytes: null, error: (r.timedOut ? 'timed out; ' : '') + (r.stderr || r.error || 'failed').slice(-300) };
    if (!best || r.secs < best.secs) best = r;
  }
  return { ok: true, secs: best.secs, rssMiB: Number.isFinite(best.rssMiB) ? best.rssMiB : null, outBytes: out ? statSync(out).size : null };
}

/** `node dist/cli.js ...args`, timed (`env`: the child's environment, default this one's). */
export const rolldelta = (args, out, repeat = REPEAT, env = undefined) => timed(process.execPath, [CLI, ...args], out, repeat, env);

/** Times of BENCH_REPEAT. */
export const REPEATS = REPEAT;

/** SHA-256 of a file, streamed. */
export async function sha256File(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) h.update(chunk);
  return h.digest('hex');
}

/** zstd's window log that covers `bytes` (basis plus target for --patch-from), capped at 31. */
export function zstdWindowLog(bytes) {
  return Math.min(31, Math.max(20, Math.ceil(Math.log2(bytes))));
}

/** xdelta3's -B: the basis size rounded up to a power of two, at least 16 MiB. */
export function xdeltaWindow(bytes) {
  return 2 ** Math.max(24, Math.ceil(Math.log2(bytes)));
}
