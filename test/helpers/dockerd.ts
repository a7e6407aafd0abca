import { execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerEngine } from '../../src/docker/engine.js';

export const DOCKERD = '/usr/sbin/dockerd';
export const BUSYBOX = '/bin/busybox';

export { requirePeer, whichBinary, missingBinary, type PeerCheck } from './peers.js';

/**
 * Why a private dockerd cannot run here, or undefined when it can (dockerd and busybox-static
 * present, running as root).
 * @example
 * const peer = requirePeer('dockerd', dockerdAvailable());
 */
export function dockerdAvailable(): string | undefined {
  if (!existsSync(DOCKERD)) return `${DOCKERD} not found; install it with: apt-get install docker.io`;
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} not found (test images are built from it); install it with: apt-get install busybox-static`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'a private dockerd needs root; run the tests as root';
  return undefined;
}

export interface Dockerd {
  socketPath: string;
  engine: DockerEngine;
  dataRoot: string;
  /** Milliseconds from spawn to the first successful /_ping. */
  startMs: number;
  /** Stops the daemon (SIGTERM, then SIGKILL) and removes its directories; safe to call twice. */
  stop(): Promise<void>;
  /**
   * Kills the daemon and waits until it and its containerd are gone, keeping its directories:
   * SIGKILL is a crash, and leaves the socket's file (connections are refused); SIGTERM a clean
   * stop, which removes it. The signal is sent before this returns, so a caller may start an
   * engine request right after and find it gone.
   */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts the daemon again, after kill(), on the same socket, data-root and exec-root; resolves once it answers /_ping. */
  start(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/**
 * Starts a private Docker daemon (vfs storage, no networking) on a socket of its own under a fresh
 * `/tmp/rd-XXXXXX` directory, and waits until it answers `/_ping`.
 * @example
 * const d = await startDockerd();
 * try { await d.engine.ping() } finally { await d.stop() }
 */
export async function startDockerd(): Promise<Dockerd> {
  const reason = dockerdAvailable();
  if (reason !== undefined) throw new Error(`cannot start dockerd: ${reason}`);
  // Short root: the exec-root holds containerd's unix sockets, whose paths are limited to ~107 bytes.
  const root = await mkdtemp('/tmp/rd-');
  const dataRoot = join(root, 'd');
  const execRoot = join(root, 'x');
  const socketPath = join(root, 's');
  const pidFile = join(root, 'pid');
  const logFile = join(root, 'log');
  const args = [
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=vfs',
    `--data-root=${dataRoot}`, `--exec-root=${execRoot}`, `--pidfile=${pidFile}`, `-H`, `unix://${socketPath}`,
  ];
  const engine = new DockerEngine({ socketPath, timeoutMs: 30_000 });
  let pid: number | undefined;

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (pid !== undefined) await killAndWait(pid, execRoot);
    else await killContainerd(execRoot); // left running by a kill() that no start() followed
    await removeTree(root);
  };

  /** Spawns dockerd with `args` and waits until it answers /_ping. */
  const spawnAndWait = async (): Promise<void> => {
    const t0 = Date.now();
    const logFd = openSync(logFile, 'a');
    // detached = setsid(): the daemon and its containerd leave our process group and terminal.
    const child = spawn(DOCKERD, args, { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.unref();
    pid = child.pid;
    let exited: { code: number | null; signal: string | null } | undefined;
    child.on('exit', (code, signal) => {
      exited = { code, signal };
    });
    child.on('error', () => {
      exited = { code: null, signal: 'spawn error' };
    });
    for (;;) {
      if (exited) throw new Error(`dockerd exited during start-up (${exited.code ?? exited.signal}):\n${tail(logFile)}`);
      if (Date.now() - t0 > START_TIMEOUT_MS) throw new Error(`dockerd did not answer /_ping within ${START_TIMEOUT_MS} ms:\n${tail(logFile)}`);
      if (existsSync(socketPath)) {
        try {
          await engine.ping();
          return;
        } catch {
          // Socket created but the API is not serving yet.
        }
      }
      await sleep(100);
    }
  };

  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> => {
    const running = pid;
    if (running === undefined || stopped) return;
    pid = undefined;
    try {
      process.kill(running, signal);
    } catch {
      return; // Already gone.
    }
    if (!(await waitGone(running, STOP_TIMEOUT_MS))) throw new Error(`dockerd (pid ${running}) did not exit on ${signal} within ${STOP_TIMEOUT_MS} ms`);
    // containerd dies with dockerd (a parent-death signal) but stays a zombie until init reaps it
    // (~1.5 s here, never under an init that does not reap); see killContainerd.
    await killContainerd(execRoot);
  };

  const start = async (): Promise<void> => {
    if (stopped) throw new Error('start() after stop(): the daemon\'s directories are gone');
    if (pid !== undefined && alive(pid)) return;
    await spawnAndWait();
  };

  const t0 = Date.now();
  try {
    await spawnAndWait();
  } catch (e) {
    await stop();
    throw e;
  }
  return { socketPath, engine, dataRoot, startMs: Date.now() - t0, stop, kill, start };
}

/** Whether `pid` runs: a zombie (dead, not yet reaped by its parent or init) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false; // reaped since
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) return false;
    await sleep(100);
  }
  return true;
}

/** SIGTERM and wait; if dockerd hangs, SIGKILL it and the containerd it started (which it would have stopped). */
async function killAndWait(pid: number, execRoot: string): Promise<void> {
  const containerdPid = readPid(join(execRoot, 'containerd', 'containerd.pid'));
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, STOP_TIMEOUT_MS)) return;
  for (const p of [pid, containerdPid]) {
    if (p === undefined) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitGone(pid, 5_000);
}

/** SIGKILLs the containerd a killed dockerd left running under `execRoot`, and waits until it is gone. */
async function killContainerd(execRoot: string): Promise<void> {
  const pidFile = join(execRoot, 'containerd', 'containerd.pid');
  const p = readPid(pidFile);
  if (p !== undefined && alive(p)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
    if (!(await waitGone(p, STOP_TIMEOUT_MS))) throw new Error(`containerd (pid ${p}) did not exit on SIGKILL within ${STOP_TIMEOUT_MS} ms`);
  }
  // A dead containerd's pid, while a zombie not yet reaped (by an init that reaps slowly, or never),
  // makes the next dockerd take it for running, dial its dead socket and exit: it starts its own.
  rmSync(pidFile, { force: true });
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Unmounts whatever the daemon left mounted under `root` (deepest first), then deletes it. */
async function removeTree(root: string): Promise<void> {
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((m): m is string => m !== undefined && (m === root || m.startsWith(root + '/')))
      .sort((a, b) => b.length - a.length);
  } catch {
    // No /proc: nothing we can unmount anyway.
  }
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // Best effort: rm below reports what is really stuck.
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch (e) {
      if (attempt >= 2) {
        console.warn(`could not remove ${root}: ${(e as Error).message}`);
        return;
      }
      await sleep(500);
    }
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
