import { describe, expect, it } from 'vitest';
import { FailureMemory } from '../../src/docker/_failure-memory.js';

const refusal = { status: 500, message: 'generating the delta failed: boom' };

describe('FailureMemory', () => {
  it('answers with a failure until keepMs is over, then forgets it', () => {
    const f = new FailureMemory(1000);
    f.remember('a', refusal, 0);
    expect(f.answerFor('a', 999)).toEqual(refusal);
    expect(f.answerFor('a', 999)).toEqual(refusal);
    expect(f.answerFor('a', 1000)).toBeUndefined();
    expect(f.size).toBe(0);
  });

  it('remembers a failure that passes soon for its own shorter time, never longer than keepMs', () => {
    const f = new FailureMemory(1000);
    const away = { status: 503, message: 'the engine went away' };
    f.remember('a', away, 0, 200);
    f.remember('b', refusal, 0, 5000);
    expect(f.answerFor('a', 199)).toEqual(away);
    expect(f.answerFor('a', 200)).toBeUndefined();
    expect(f.answerFor('b', 999)).toEqual(refusal);
    expect(f.answerFor('b', 1000)).toBeUndefined();
  });

  it('with keepMs 0, answers the next request only', () => {
    const f = new FailureMemory(0);
    f.remember('a', refusal, 0);
    expect(f.answerFor('a', 5000)).toEqual(refusal);
    expect(f.answerFor('a', 5000)).toBeUndefined();
  });

  it('forgets failures no one asks for again once they are over', () => {
    const f = new FailureMemory(1000);
    for (let i = 0; i < 10_000; i++) f.remember(`pair ${i}`, refusal, i);
    // Those of the last 1000 ms are still told; the 9000 before them were dropped.
    expect(f.size).toBeLessThanOrEqual(1001);
    expect(f.answerFor('pair 9999', 9999)).toEqual(refusal);
  });

  it('with keepMs 0, keeps an unasked failure a minute for its one request, not for good', () => {
    const f = new FailureMemory(0);
    f.remember('a', refusal, 0);
    f.remember('b', refusal, 59_999);
    expect(f.size).toBe(2);
    f.remember('c', refusal, 60_000);
    expect(f.answerFor('a', 60_000)).toBeUndefined();
    expect(f.answerFor('b', 60_000)).toEqual(refusal);
  });
});
