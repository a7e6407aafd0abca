/** A request the server answers with an error status and a one-line reason per problem. */
export interface Refusal {
  status: number;
  message: string;
}

/**
 * With `keepMs` 0, how long a failure waits for the one request it is told to: a device polling
 * is back within its backoff (at most 30 s by default).
 */
const TOLD_ONCE_WAIT_MS = 60_000;

/**
 * The delta server's failed generations, by pair and level: each is the answer to every request
 * for it during `keepMs` (with 0: to the next request only). Forgotten once over, whether or not
 * the pair is asked for again: a pair never asked for again was kept for good (~1.1 KB each, one
 * per query for an image a source without checkImage lacks).
 * @example
 * const failures = new FailureMemory(30_000);
 * failures.remember(key, { status: 500, message: 'generating the delta failed: …' });
 * failures.answerFor(key); // the refusal, until 30 s have passed
 */
export class FailureMemory {
  /** In the order they were remembered, which is the order they are over (`remember` appends). */
  private readonly failures = new Map<string, Refusal & { until: number }>();

  constructor(readonly keepMs: number) {}

  /** Entries held, for tests and monitoring. */
  get size(): number {
    return this.failures.size;
  }

  /** Remembers `refusal` for `key`, for `keepMs`, or for `forMs` when that is shorter (a failure that passes soon). */
  remember(key: string, refusal: Refusal, now = Date.now(), forMs = this.keepMs): void {
    this.forgetOld(now);
    // Appended: the map stays in the order of `until` but for shorter ones, which at worst are
    // dropped as late as the longer ones before them.
    this.failures.delete(key);
    this.failures.set(key, { ...refusal, until: now + Math.min(forMs, this.keepMs) });
  }

  /** The refusal to answer a request for `key` with, or undefined (then none is kept for it any more). */
  answerFor(key: string, now = Date.now()): Refusal | undefined {
    const f = this.failures.get(key);
    if (f === undefined) return undefined;
    const over = this.keepMs > 0 && now >= f.until;
    if (over || this.keepMs === 0) this.failures.delete(key);
    return over ? undefined : { status: f.status, message: f.message };
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Drops the failures that are over, oldest first, stopping at the first that is not. */
  private forgetOld(now: number): void {
    const wait = this.keepMs === 0 ? TOLD_ONCE_WAIT_MS : 0;
    for (const [key, f] of this.failures) {
      if (now < f.until + wait) break;
      this.failures.delete(key);
    }
  }
}
