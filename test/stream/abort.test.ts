import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCode, RolldeltaError } from '../../src/core/errors.js';
import { operationAborted, settledUnlessAborted } from '../../src/stream/abort.js';
import { byteChunks } from '../../src/stream/chunks.js';

describe('settledUnlessAborted', () => {
  it('passes a value or a rejection through and leaves no listener behind', async () => {
    const ac = new AbortController();
    await expect(settledUnlessAborted(Promise.resolve(7), ac.signal, operationAborted)).resolves.toBe(7);
    await expect(settledUnlessAborted(Promise.reject(new Error('boom')), ac.signal, operationAborted)).rejects.toThrow('boom');
    for (let i = 0; i < 100; i++) await settledUnlessAborted(Promise.resolve(i), ac.signal, operationAborted);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once when the signal aborts while it waits, with the reason as cause', async () => {
    const ac = new AbortController();
    const never = new Promise<number>(() => {});
    const p = settledUnlessAborted(never, ac.signal, operationAborted);
    ac.abort('stop');
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RolldeltaError);
    expect((e as RolldeltaError).code).toBe(ErrorCode.ABORTED);
    expect((e as RolldeltaError).cause).toBe('stop');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects when the signal has aborted already, and the abandoned promise rejecting is not unhandled', async () => {
    const ac = new AbortController();
    ac.abort();
    const late = Promise.reject(new Error('late'));
    await expect(settledUnlessAborted(late, ac.signal, operationAborted)).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });
});

describe('byteChunks with a signal', () => {
  it('ends a wait on a stalled source when the signal aborts', async () => {
    const ac = new AbortController();
    async function* stalls() {
      yield new Uint8Array(1);
      await new Promise(() => {});
    }
    const seen: number[] = [];
    const run = (async () => {
      for await (const c of byteChunks(stalls(), ac.signal)) seen.push(c.length);
    })();
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    expect(seen).toEqual([1]);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('byteChunks ending early', () => {
  it("leaves no unhandled rejection when the source's return() fails", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const source: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => ({
          next: async () => ({ value: new Uint8Array(1), done: false }),
          return: async () => {
            throw new Error('the source failed as it closed');
          },
        }),
      };
      for await (const c of byteChunks(source)) if (c.length > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});
