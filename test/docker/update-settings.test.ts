import { afterEach, describe, expect, it, vi } from 'vitest';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import { SMALL_DEVICE_BYTES, SPARE_MEMORY_BYTES, updateSettings } from '../../src/docker/_update-settings.js';
import type { DockerEngine } from '../../src/docker/engine.js';

const opts = { engine: {} as DockerEngine, to: 'app:2', deltaUrl: 'http://deltas:8080/delta' };

describe('updateImage level on a small device', () => {
  afterEach(() => vi.restoreAllMocks());

  it('asks for level 6 under 128 MiB, where a level 9 apply of much new content thrashes', () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(64 << 20);
    expect(updateSettings(opts).level).toBe(6);
    expect(updateSettings({ ...opts, level: 9 }).level).toBe(9);
    expect(updateSettings({ ...opts, level: 3 }).level).toBe(3);
  });

  it("leaves the level to the server with more memory, or no limit (0 or a huge number)", () => {
    for (const limit of [SMALL_DEVICE_BYTES, 1 << 30, 0, 2 ** 64]) {
      vi.spyOn(process, 'constrainedMemory').mockReturnValue(limit);
      expect(updateSettings(opts).level).toBeUndefined();
    }
  });
});

describe('updateImage workers', () => {
  it('refuses a thread count the apply could not use before anything runs (a pull would follow)', () => {
    for (const workers of [0.5, -1, 65, 'two']) {
      expect(() => updateSettings({ ...opts, workers: workers as never }), String(workers)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    for (const workers of [1, 2, 'auto', 0] as const) expect(updateSettings({ ...opts, workers }).workers).toBe(workers);
  });
});

describe('updateImage workers by default', () => {
  // node:os's named exports follow its default object only when synced.
  afterEach(() => {
    vi.restoreAllMocks();
    syncBuiltinESMExports();
  });

  it('two threads with two cores and 2 GiB (the machine\'s or the cgroup\'s), else one', () => {
    vi.spyOn(os, 'totalmem').mockReturnValue(8 * 2 ** 30);
    const cases: Array<[number, number, number]> = [
      [SPARE_MEMORY_BYTES, 2, 2],
      [0, 4, 2], // no cgroup limit: the machine's 8 GiB
      [SPARE_MEMORY_BYTES - 1, 4, 1],
      [1 << 30, 2, 1],
      [SPARE_MEMORY_BYTES, 1, 1],
    ];
    for (const [limit, cores, want] of cases) {
      vi.spyOn(process, 'constrainedMemory').mockReturnValue(limit);
      vi.spyOn(os, 'availableParallelism').mockReturnValue(cores);
      syncBuiltinESMExports();
      expect(updateSettings(opts).workers, `${limit} bytes, ${cores} cores`).toBe(want);
    }
  });
});
