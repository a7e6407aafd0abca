// causeChainHas: an error's cause chain searched, bounded against chains that loop.
import { describe, expect, it } from 'vitest';
import { causeChainHas } from '../../src/docker/_cause-chain.js';
import { EngineUnreachableError, ErrorCode, RegistryUnavailableError, isEngineUnreachable, isRegistryUnavailable } from '../../src/index.js';

describe('causeChainHas', () => {
  it('finds a marked error up to 8 links down, not past them, and ends on a chain that loops', () => {
    const marked = Object.assign(new Error('deep'), { mark: true });
    const has = (e: unknown) => causeChainHas(e, (x) => (x as { mark?: boolean }).mark === true);
    let e: Error = marked;
    for (let depth = 1; depth <= 8; depth++) {
      expect(has(e), String(depth)).toBe(true);
      e = new Error(`wrapper ${depth}`, { cause: e });
    }
    expect(has(e)).toBe(false); // the ninth link
    const loop = new Error('a');
    const other = new Error('b', { cause: loop });
    loop.cause = other;
    expect(has(loop)).toBe(false);
    expect(has('not an error')).toBe(false);
  });

  it('tells an unreachable engine and an unavailable registry through a cause', () => {
    const engine = new EngineUnreachableError(ErrorCode.IO, 'gone', '/run/docker.sock', undefined);
    const registry = new RegistryUnavailableError(ErrorCode.REMOTE, 'busy', 'http://reg', 503, undefined);
    expect(isEngineUnreachable(new Error('pull failed', { cause: engine }))).toBe(true);
    expect(isRegistryUnavailable(new Error('delta failed', { cause: registry }))).toBe(true);
    expect(isEngineUnreachable(registry)).toBe(false);
    expect(isRegistryUnavailable(engine)).toBe(false);
  });
});
