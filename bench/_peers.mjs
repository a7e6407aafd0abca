// Shared bits of the benchmarks: peer detection, timing of child processes and of in-process work.
import { spawnSync, execFileSync } from 'node:child_process';

/** True when `cmd` is on the PATH. */
export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The environment a measured command runs in: `env` (default this process's) without
 * NODE_EXTRA_CA_CERTS. Node reads those certificates at every start, TLS or none: this machine's
 * own tooling sets it to the system's 200 KB bundle, which cost each Node process 70-80 ms and
 * 2 MiB (`node -e 0`: 0.10-0.11 s with it, 0.03 without). No measured command makes a TLS
 * connection, and a device or server without the variable does not pay it; the C peers never do.
 */
export function measuredEnv(env = process.env) {
  const out = { ...env };
  delete out.NODE_EXTRA_CA_CERTS;
  return out;
}

/** Runs a command, returns wall seconds and peak RSS in MiB (via /usr/bin/time when present). */
export function timeCommand(cmd, args, opts = {}) {
  const useTime = have('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const env = measuredEnv(opts.env);
  const r = useTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, ...opts, env })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts, env });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const rssKb = useTime ? Number((r.stderr.trim().split('\n').pop() ?? '0')) : NaN;
  return { secs, rssMiB: rssKb / 1024 };
}

/** Times an async function in this process (wall seconds). */
export async function timeAsync(fn) {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { secs: Number(process.hrtime.bigint() - t0) / 1e9, result };
}

/** One-line description of this machine for result tables (and of the variable {@link measuredEnv} leaves out, where set). */
export function machine() {
  const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
  const certs = process.env.NODE_EXTRA_CA_CERTS === undefined ? '' : ' (NODE_EXTRA_CA_CERTS, set here, left out of the measured commands\' environment: see bench/_peers.mjs)';
  return `${cpu}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, Node ${process.version}${certs}`;
}

/**
 * Like `timeCommand` but never throws: returns `{ ok, secs, rssMiB, stderr }`, with `ok` false when
 * the command failed, could not start or ran past `timeoutSecs` (then `timedOut` is true).
 */
export function runTimed(cmd, args, { timeoutSecs = 600, ...opts } = {}) {
  const useTime = have('/usr/bin/time');
  const t0 = process.hrtime.bigint();
  const env = measuredEnv(opts.env);
  const r = useTime
    ? spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: timeoutSecs * 1000, ...opts, env })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, timeout: timeoutSecs * 1000, ...opts, env });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const stderr = (r.stderr ?? '').trim();
  const lines = stderr.split('\n');
  const rssKb = useTime ? Number(lines.pop() ?? '0') : NaN;
  const timedOut = r.error?.code === 'ETIMEDOUT';
  const ok = !r.error && r.status === 0;
  return { ok, timedOut, secs, rssMiB: rssKb / 1024, stderr: useTime ? lines.join('\n') : stderr, error: r.error?.message };
}
