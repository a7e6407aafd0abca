import { ErrorCode, RolldeltaError } from '../core/errors.js';
import { causeChainHas } from './_cause-chain.js';

/**
 * Answers a server gives while it is overloaded, restarting or being redeployed, or a proxy in front
 * of it while it cannot reach it: ask again later. Registries and delta servers alike.
 */
const BUSY_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Whether an answer's `status` (a registry's, a delta server's) says "not now" rather than "no".
 * @example
 * isBusyStatus(503); // true
 */
export function isBusyStatus(status: number): boolean {
  return BUSY_STATUSES.has(status);
}

/**
 * What a {@link RegistryClient} throws when the registry is there in name only for now: it cannot be
 * reached, the connection broke or stalled mid-answer (ERR_IO, ERR_TIMEOUT), or it answered 429,
 * 502, 503 or 504 (ERR_REMOTE, `status` set). Worth asking again later, unlike a 404, a refused
 * credential or a damaged blob. Its `name` stays 'RolldeltaError'.
 * @example
 * try { await client.manifest('app', '2') } catch (e) {
 *   if (isRegistryUnavailable(e)) await retryLater(); else throw e;
 * }
 */
export class RegistryUnavailableError extends RolldeltaError {
  /** Marks the error for {@link isRegistryUnavailable}, also across duplicate copies of the package. */
  readonly registryUnavailable = true as const;
  readonly baseUrl: string;
  /** The registry's answer, when it answered; undefined when it could not be reached or broke off. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, baseUrl: string, status: number | undefined, cause: unknown) {
    super(code, message, { cause });
    this.baseUrl = baseUrl;
    this.status = status;
  }
}

/**
 * True when `e`, or an error in its `cause` chain, is a {@link RegistryUnavailableError}.
 * @example
 * if (isRegistryUnavailable(e)) res.writeHead(503, { 'retry-after': '2' });
 */
export function isRegistryUnavailable(e: unknown): boolean {
  return causeChainHas(e, (x) => (x as Partial<RegistryUnavailableError>).registryUnavailable === true);
}
