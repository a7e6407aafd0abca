// EngineWait against an engine socket that comes and goes on schedule: a small HTTP server on a
// unix socket answering /_ping as dockerd does, listening or not. The waits themselves against a
// real dockerd killed and started again are in update-engine-restart.test.ts; here, only how the
// waits of one update share their time, which needs an engine back within a chosen delay.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineWait } from '../../src/docker/_engine-wait.js';
import { DockerEngine, updateImage } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'rd-engine-wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An engine that answers /_ping from `up()` until `down()`, on a socket of its own. */
function flappingEngine(name: string) {
  const socketPath = join(dir, name);
  let server: Server | undefined;
  return {
    engine: new DockerEngine({ socketPath, timeoutMs: 5_000 }),
    up: () =>
      new Promise<void>((resolve) => {
        server = createServer((_, res) => res.writeHead(200, { 'api-version': '1.41' }).end('OK'));
        server.listen(socketPath, resolve);
      }),
    // close() removes the socket's file, as a dockerd stopped cleanly does.
    down: () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
  };
}

describe('EngineWait', () => {
  it('shares its time among the waits of one update: an engine back after 1.2 s, then after 2.5 s, exhausts 3 s', async () => {
    const e = flappingEngine('flap');
    const messages: string[] = [];
    const wait = new EngineWait(e.engine, 3_000, undefined, (m) => messages.push(m));
    const timers: NodeJS.Timeout[] = [];
    try {
      timers.push(setTimeout(() => void e.up(), 1_200));
      expect(await wait.untilBack()).toBe(true);
      await e.down();
      timers.push(setTimeout(() => void e.up(), 2_500));
      const t0 = Date.now();
      // About 1.6 s were left (1.2 s and a ping's backoff spent): not long enough for an engine back after 2.5 s.
      expect(await wait.untilBack()).toBe(false);
      expect(Date.now() - t0).toBeLessThan(2_500);
      expect(await wait.untilBack()).toBe(false); // nothing left: at once
      expect(messages).toHaveLength(2);
      expect(messages[0]).toMatch(/is unreachable \(stopped or restarting\?\); waiting up to 3000 ms for it to answer$/);
      expect(Number(/waiting up to (\d+) ms/.exec(messages[1]!)?.[1])).toBeLessThan(2_000);
    } finally {
      for (const t of timers) clearTimeout(t);
      await e.down();
    }
  });

  it('an update whose signal has aborted is ERR_ABORTED, though the engine it cannot reach fails first', async () => {
    const e = flappingEngine('never-up');
    const ac = new AbortController();
    ac.abort();
    const result = updateImage({ engine: e.engine, from: 'app:1', to: 'app:2', deltaUrl: 'http://127.0.0.1:9/delta', signal: ac.signal });
    await expect(result).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
