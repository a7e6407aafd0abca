import { describe, expect, it } from 'vitest';
import { updateLog } from '../../src/cli/update-log.js';
import type { UpdateEvent } from '../../src/docker/delta-download.js';

/** The lines `rolldelta update` writes for `events`, each given at its time in ms. */
function linesFor(events: Array<[number, UpdateEvent]>): string[] {
  const lines: string[] = [];
  let t = 0;
  const log = updateLog((l) => lines.push(l), 10_000, () => t);
  for (const [at, e] of events) {
    t = at;
    log(e);
  }
  return lines;
}

describe('rolldelta update log lines', () => {
  it('shows a download and an apply that take minutes, not only the messages around them', () => {
    const lines = linesFor([
      [0, { phase: 'waiting', message: 'server answered 202; asking again in 2000 ms' }],
      [2000, { phase: 'download', bytes: 65536, total: 940318 }],
      [5000, { phase: 'download', bytes: 200000, total: 940318 }],
      [12_001, { phase: 'download', bytes: 600000, total: 940318 }],
      [13_000, { phase: 'download', bytes: 700000, total: 940318, message: 'attempt 1 of 30 failed: reset; trying again in 10000 ms' }],
      [23_500, { phase: 'download', bytes: 800000, total: 940318 }],
      [24_000, { phase: 'download', bytes: 940318, total: 940318 }],
      [24_100, { phase: 'apply', message: 'rebuilding app:2 (sha256:1) from app:1' }],
      [30_000, { phase: 'apply', bytes: 1 << 20 }],
      [40_100, { phase: 'apply', bytes: 2 << 20 }],
      [41_000, { phase: 'apply', bytes: 3 << 20 }],
    ]);
    expect(lines).toEqual([
      'waiting: server answered 202; asking again in 2000 ms\n',
      'download: 64.0 KiB of 918.3 KiB (6%)\n',
      'download: 585.9 KiB of 918.3 KiB (63%)\n',
      'download: attempt 1 of 30 failed: reset; trying again in 10000 ms\n',
      'download: 781.3 KiB of 918.3 KiB (85%)\n',
      'download: 918.3 KiB of 918.3 KiB (100%)\n',
      'apply: rebuilding app:2 (sha256:1) from app:1\n',
      'apply: 2.0 MiB of the new image handed to docker load\n',
    ]);
  });

  it('says the bytes of a download of unknown size, and ignores events with nothing to say', () => {
    expect(linesFor([[0, { phase: 'download', bytes: 10 }], [1, { phase: 'fallback' }]])).toEqual(['download: 10 B\n']);
  });
});
