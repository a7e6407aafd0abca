import { abortAfter, sleepUnlessAborted, updateAborted } from './_update-abort.js';
import type { DockerEngine } from './engine.js';
import { isEngineUnreachable } from './engine-unreachable.js';

/** The first pause between pings, doubled up to the longest: a restart takes a second or two, an upgrade longer. */
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 1_000;

/**
 * An update's patience with an engine that is unreachable (stopped, restarting, crashed): it pings
 * with a short backoff until the engine answers or its time runs out, and says so once per wait
 * through `onWait`. All its waits share `waitMs`: an engine that comes back and goes away again
 * at every step of an update costs it `waitMs` in all, not `waitMs` per step. An abort of `signal`
 * is ERR_ABORTED, while waiting or when a call fails after it.
 * @example
 * const wait = new EngineWait(engine, 60_000, signal, (m) => log(m));
 * const present = await wait.call(() => engine.inspectImage('app:2'));
 */
export class EngineWait {
  private spentMs = 0;

  constructor(
    private readonly engine: DockerEngine,
    private readonly waitMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onWait: (message: string) => void,
  ) {}

  /** Runs `fn`; when it fails because the engine is unreachable, waits for the engine and runs it once more. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      // An engine call that failed because the signal had aborted fails as the abort it is.
      if (this.signal?.aborted) throw updateAborted(this.signal.reason);
      if (!isEngineUnreachable(e) || !(await this.untilBack())) throw e;
      return fn();
    }
  }

  /** Waits until the engine answers (true) or the time left runs out (false, at once when none is left). */
  async untilBack(): Promise<boolean> {
    const budget = this.waitMs - this.spentMs;
    if (budget <= 0) return false;
    this.onWait(`the Docker Engine at ${this.engine.socketPath} is unreachable (stopped or restarting?); waiting up to ${budget} ms for it to answer`);
    const start = Date.now();
    const deadline = start + budget;
    try {
      for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, LONGEST_PAUSE_MS)) {
        if (await this.answersWithin(deadline - Date.now())) return true;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await sleepUnlessAborted(Math.min(pause, left), this.signal);
      }
    } finally {
      this.spentMs += Date.now() - start;
    }
  }

  /** One ping, given up at the deadline: a daemon starting accepts connections before it answers them. */
  private async answersWithin(ms: number): Promise<boolean> {
    if (ms <= 0) return false;
    const step = abortAfter(ms, this.signal);
    try {
      await this.engine.ping({ signal: step.signal });
      return true;
    } catch (e) {
      if (this.signal?.aborted) throw updateAborted(this.signal.reason);
      // Any other answer (a 500 while it starts) means the engine is there: the next call says the rest.
      return !step.timedOut() && !isEngineUnreachable(e);
    } finally {
      step.dispose();
    }
  }
}
