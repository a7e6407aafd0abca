import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { MAX_TIMER_MS } from './_update-abort.js';


/**
 * A request's inactivity limit: `signal`, given to the transport, aborts when the server has sent
 * nothing for `ms` while it was being waited for (connecting, the headers, each piece of the
 * body), or when the caller's own `outer` signal aborts. The count runs from `restart()` to
 * `pause()` only: time the caller spends on what arrived (writing it to a slow disk) is not the
 * server's silence. A socket timeout would count it, as the socket pauses while that happens.
 * @example
 * const idle = new IdleTimeout(30_000, 'GET http://deltas:8080/delta', signal);
 * idle.restart();
 * try { res = await send(url, idle.signal) } catch (e) { throw idle.explain(e) } finally { idle.pause() }
 * idle.stop(); // done: removes its listener from `signal`
 */
export class IdleTimeout {
  /** Aborts on a stall past `ms`, or with the caller's signal. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private check: ReturnType<typeof setImmediate> | undefined;
  private fired = false;
  private readonly onOuterAbort = () => this.controller.abort(this.outer?.reason);

  constructor(
    readonly ms: number,
    /** Names the request in the error, e.g. `GET http://deltas:8080/delta`. */
    private readonly what: string,
    private readonly outer?: AbortSignal,
  ) {
    this.signal = this.controller.signal;
    if (outer?.aborted) this.onOuterAbort();
    else outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  /** Starts the count afresh: the server is being waited for (again, after a byte came). */
  restart(): void {
    this.pause();
    if (this.signal.aborted) return;
    // Node fires a timer longer than 2^31-1 ms at once: such a limit is none.
    if (this.ms > MAX_TIMER_MS) return;
    this.timer = setTimeout(() => {
      // Timers run before the sockets are read: after other work held the event loop past `ms`
      // (another update's level 9 decode on a slow device), what the server sent meanwhile is
      // waiting unread. The check comes after the reads of this turn, which pause or restart the count.
      this.check = setImmediate(() => {
        this.fired = true;
        this.controller.abort(this.timeoutError());
      });
    }, this.ms);
  }

  /** Stops the count: the caller is busy with what arrived, not waiting for the server. */
  pause(): void {
    clearTimeout(this.timer);
    clearImmediate(this.check);
    this.timer = undefined;
    this.check = undefined;
  }

  /** Ends the watch for good, removing its listener from the caller's signal. */
  stop(): void {
    this.pause();
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }

  /** The error to throw for a transport's `e`: ERR_TIMEOUT when the stall aborted it, else `e`. */
  explain(e: unknown): unknown {
    return this.fired ? this.timeoutError(e) : e;
  }

  private timeoutError(cause?: unknown): RolldeltaError {
    return new RolldeltaError(ErrorCode.TIMEOUT, `nothing arrived for ${this.ms} ms during ${this.what}: the server or the network stalled`, { cause });
  }
}
