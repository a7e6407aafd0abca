import { ErrorCode, RolldeltaError } from '../core/errors.js';

/** Exit codes of a command stopped by a signal: 128 + the signal's number, as shells report it. */
const EXIT_CODES = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof EXIT_CODES;
/** How long a command may take to stop before `unblock` is called: file commands take milliseconds. */
const UNBLOCK_AFTER_MS = 1000;

/**
 * Turns Ctrl-C (SIGINT), SIGTERM and SIGHUP into an AbortSignal for the running command: it stops
 * at its next chunk and removes its temporary file, where being killed outright would leave it
 * behind (a device agent stopped by its service manager would pile them up). A second signal exits
 * at once, for a command busy in one long step.
 * @example
 * const stops = new StopSignals();
 * try { await patchFile(b, d, o, { signal: stops.signal }); } finally { stops.dispose(); }
 */
export class StopSignals {
  private readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  /** The signal that stopped the command, once one has. */
  received: StopSignal | undefined;

  private readonly onSignal = (name: StopSignal): void => {
    if (this.received) {
      this.unblock?.(); // else the exit itself can wait for good (see releasePipes)
      process.exit(EXIT_CODES[name]);
    }
    this.received = name;
    this.controller.abort(new RolldeltaError(ErrorCode.ABORTED, `stopped by ${name}`));
    // Still running by then: perhaps stuck where no signal reaches.
    if (this.unblock) setTimeout(this.unblock, UNBLOCK_AFTER_MS).unref();
  };

  /**
   * `unblock` frees what a command can wait on where no signal reaches (see releasePipes): called
   * if the command has not ended a moment after the first signal, and before a second one exits.
   */
  constructor(private readonly unblock?: () => void) {
    for (const name of Object.keys(EXIT_CODES) as StopSignal[]) process.on(name, this.onSignal);
  }

  /** The exit code for the signal received, if any. */
  get exitCode(): number | undefined {
    return this.received && EXIT_CODES[this.received];
  }

  /** Gives the signals back their default action (the process ends at once). */
  dispose(): void {
    for (const name of Object.keys(EXIT_CODES) as StopSignal[]) process.off(name, this.onSignal);
  }
}
