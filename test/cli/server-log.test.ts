import { describe, expect, it } from 'vitest';
import { serverLogLine } from '../../src/cli/server-log.js';

const at = new Date('2026-11-24T09:30:00.000Z');

describe('rolldelta serve log lines', () => {
  it('says what each event was, with its time, and leaves polls out', () => {
    expect(serverLogLine({ type: 'request', method: 'GET', from: 'app:1', to: 'app:2', level: 9, status: 200, bytes: 5313, complete: true, ms: 3.4 }, at)).toBe(
      '2026-11-24T09:30:00.000Z GET app:1 -> app:2 level 9: 200, 5313 bytes in 3 ms\n',
    );
    expect(serverLogLine({ type: 'request', method: 'GET', status: 400, bytes: 0, complete: true, ms: 0.2 }, at)).toBe('2026-11-24T09:30:00.000Z GET (no pair): 400, 0 bytes in 0 ms\n');
    expect(serverLogLine({ type: 'request', method: 'GET', from: 'a:1', to: 'a:2', level: 9, status: 206, bytes: 100, complete: false, ms: 9 }, at)).toContain('(closed early)');
    expect(serverLogLine({ type: 'request', method: 'GET', from: 'a:1', to: 'a:2', level: 9, status: 202, bytes: 0, complete: true, ms: 1 }, at)).toBeUndefined();
    // An error answer says why, as the device was told.
    const why = "the delta server's Docker Engine is unreachable (restarting?); ask again: cannot reach the Docker Engine at /var/run/docker.sock: no such socket";
    expect(serverLogLine({ type: 'request', method: 'GET', from: 'a:1', to: 'a:2', level: 9, status: 503, reason: why, bytes: 0, complete: true, ms: 2 }, at)).toBe(
      `2026-11-24T09:30:00.000Z GET a:1 -> a:2 level 9: 503, 0 bytes in 2 ms: ${why}\n`,
    );
    expect(serverLogLine({ type: 'generation-queued', from: 'app:1', to: 'app:3', level: 9, ahead: 1 }, at)).toBe(
      '2026-11-24T09:30:00.000Z queued app:1 -> app:3 at level 9: 1 ahead of it, the most generations already running\n',
    );
    expect(serverLogLine({ type: 'deltas-removed', files: 2, bytes: 8000, maxBytes: 10000 }, at)).toBe(
      '2026-11-24T09:30:00.000Z removed 2 least recently used deltas (8000 bytes) to keep the store within 10000 bytes\n',
    );
    expect(serverLogLine({ type: 'generation-started', from: 'app:1', to: 'app:2', level: 9 }, at)).toBe('2026-11-24T09:30:00.000Z generating app:1 -> app:2 at level 9\n');
    expect(serverLogLine({ type: 'generation-finished', from: 'app:1', to: 'app:2', level: 6, bytes: 42, ms: 640.7 }, at)).toBe(
      '2026-11-24T09:30:00.000Z generated app:1 -> app:2 at level 6: 42 bytes in 641 ms\n',
    );
    expect(serverLogLine({ type: 'generation-failed', from: 'app:1', to: 'app:2', level: 9, reason: 'no space left (ERR_IO)', ms: 12 }, at)).toBe(
      '2026-11-24T09:30:00.000Z generating app:1 -> app:2 at level 9 failed after 12 ms: no space left (ERR_IO)\n',
    );
    expect(serverLogLine({ type: 'delta-damaged', from: 'app:1', to: 'app:2', level: 9, reason: 'the stored delta /d/0a.rdimg is damaged: a frame fails its CRC-32 at byte 361' }, at)).toBe(
      '2026-11-24T09:30:00.000Z removed app:1 -> app:2 at level 9 from the store, to make it again: the stored delta /d/0a.rdimg is damaged: a frame fails its CRC-32 at byte 361\n',
    );
    expect(serverLogLine({ type: 'delta-outdated', from: 'app:1', to: 'app:2', level: 9, reason: 'the stored delta /d/0a.rdimg is outdated: app:2 names image sha256:b2 now, not sha256:a1' }, at)).toBe(
      '2026-11-24T09:30:00.000Z removed app:1 -> app:2 at level 9 from the store, to make it again: the stored delta /d/0a.rdimg is outdated: app:2 names image sha256:b2 now, not sha256:a1\n',
    );
  });
});
