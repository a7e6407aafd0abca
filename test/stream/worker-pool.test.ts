// A worker pool that cannot start its threads must fail the call and leave nothing behind on the
// caller's side: a long-lived process passes one signal (its shutdown) to every operation.
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'rolldelta-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('worker pool start failures', () => {
  it('a bundle without its worker entry: ERR_IO for every call, and no listener left on the signal', async () => {
    // A real missing entry, as in an application bundled without dist/worker.mjs: the sources
    // copied where neither worker.mjs nor a dist/ lies beside them.
    cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const lib = (await import(join(dir, 'src', 'index.ts'))) as typeof import('../../src/index.js');
    const basis = join(dir, 'basis.bin');
    writeFileSync(basis, Buffer.alloc(100_000, 7));
    const ac = new AbortController();
    const calls = [
      () => lib.signatureFile(basis, join(dir, 'b.sig'), { workers: 2, signal: ac.signal }),
      () => lib.buildDiffIndex(Buffer.alloc(100_000, 7), { workers: 2, signal: ac.signal }),
      () => lib.diffFile(basis, basis, join(dir, 'b.rdelta'), { workers: 2, signal: ac.signal }),
    ];
    for (const call of calls) {
      for (let i = 0; i < 3; i++) {
        await expect(call()).rejects.toMatchObject({ name: 'RolldeltaError', code: 'ERR_IO', message: expect.stringContaining('worker entry') });
      }
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // A zstd layer needs a thread whatever `workers` says: the message must not send one there.
    const zstd = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x19, 0x00, 0x00, 0x61, 0x62, 0x63]);
    const layer = async () => {
      for await (const _ of lib.unzstdChunks((async function* () { yield zstd; })(), 'layer 1'));
    };
    await expect(layer()).rejects.toMatchObject({ code: 'ERR_IO', message: expect.stringMatching(/worker entry.*dist\/worker\.mjs.*skopeo copy --dest-compress-format gzip/) });
    await expect(layer()).rejects.toMatchObject({ message: expect.not.stringContaining('workers: 1') });
  });

  it('a thread that cannot start (mocked) stops the threads started before it and leaves no listener', async () => {
    // Mocked: Node throws from `new Worker` when the OS refuses a thread (a container's pids.max,
    // RLIMIT_NPROC), which a test cannot bring about without starving the runner's own threads.
    const started: { terminate(): Promise<number> }[] = [];
    const stopped: unknown[] = [];
    vi.resetModules();
    vi.doMock('node:worker_threads', async (load) => {
      const real = await load<typeof import('node:worker_threads')>();
      class Worker extends real.Worker {
        constructor(...args: ConstructorParameters<typeof real.Worker>) {
          if (started.length === 1) throw Object.assign(new Error('Resource temporarily unavailable'), { code: 'ERR_WORKER_INIT_FAILED' });
          super(...args);
          started.push(this);
        }
        override terminate(): Promise<number> {
          stopped.push(this);
          return super.terminate();
        }
      }
      return { ...real, Worker };
    });
    try {
      const { WorkerPool } = await import('../../src/stream/worker-pool.js');
      const ac = new AbortController();
      expect(() => new WorkerPool(2, { signal: ac.signal })).toThrow(expect.objectContaining({ name: 'RolldeltaError', code: 'ERR_IO', message: expect.stringContaining('could not start') }));
      expect(started).toHaveLength(1);
      expect(stopped).toEqual(started);
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    } finally {
      vi.doUnmock('node:worker_threads');
      vi.resetModules();
    }
  });
});
