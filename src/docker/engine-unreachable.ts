import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { causeChainHas } from './_cause-chain.js';

/**
 * What a {@link DockerEngine} throws when it cannot reach the engine, or the connection to it broke
 * mid-request: the daemon is stopped, restarting or crashed. Its `code` is ERR_IO (ERR_TRUNCATED
 * for a `docker save` whose answer was cut short). Errors the engine answered with, and errors of
 * the caller's own data or files sent to it, are never this. Its `name` stays 'RolldeltaError'.
 * @example
 * try { await engine.loadImage(archive) } catch (e) {
 *   if (e instanceof EngineUnreachableError) console.log(`is dockerd at ${e.socketPath} running?`);
 * }
 */
export class EngineUnreachableError extends RolldeltaError {
  /** Marks the error for {@link isEngineUnreachable}, also across duplicate copies of the package. */
  readonly engineUnreachable = true as const;
  readonly socketPath: string;

  constructor(code: ErrorCode, message: string, socketPath: string, cause: unknown) {
    super(code, message, { cause });
    this.socketPath = socketPath;
  }
}

/**
 * True when `e`, or an error in its `cause` chain (a {@link FallbackPullError}'s pull), says the
 * Docker Engine was unreachable or went away mid-request: worth waiting for the engine and trying
 * again, unlike a refusal by the engine or a local file error (a full disk is ERR_IO too).
 * @example
 * try { await engine.pullImage('app:2') } catch (e) {
 *   if (isEngineUnreachable(e)) await retryLater(); else throw e;
 * }
 */
export function isEngineUnreachable(e: unknown): boolean {
  return causeChainHas(e, (x) => (x as Partial<EngineUnreachableError>).engineUnreachable === true);
}
