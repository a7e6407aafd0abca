import { ErrorCode, isRolldeltaError } from '../core/errors.js';
import { statusError, transportError, type HttpTarget } from './_http.js';
import { rawGet } from './_raw-get.js';
import { EngineUnreachableError } from './engine-unreachable.js';

/**
 * `GET path` over the engine's unix socket, its body yielded in 1 MiB chunks from a ring of
 * buffers (see rawGet: each valid until the second chunk after it is asked for, what
 * writeFileAtomic needs), read into one reused buffer: a `docker save` of a 256 MiB old image on
 * the device no longer leaves 20-35 MiB of Node's per-read buffers waiting for a collection. A
 * 4xx/5xx answer is ERR_REMOTE with the engine's message; transport failures ERR_IO, a stall past
 * the target's `timeoutMs` ERR_TIMEOUT, an abort ERR_ABORTED, an answer cut short ERR_TRUNCATED
 * (both an EngineUnreachableError when the engine is not there or its connection broke).
 * `ring`: the 4 MiB to read through instead of a ring of its own (see rawGet).
 * @example
 * await writeFileAtomic('old.tar', socketGetChunks(target, '/v1.41/images/get?names=app:1', 'docker save of app:1'));
 */
export async function* socketGetChunks(target: HttpTarget, path: string, what: string, signal?: AbortSignal, ring?: Uint8Array): AsyncGenerator<Uint8Array> {
  const answer = await rawGet({ path: target.socketPath }, path, {
    headers: ['Host: docker'],
    what,
    signal,
    ring,
    timeoutMs: target.timeoutMs,
    mapError: (e) => engineGetError(e, target.socketPath, path, signal),
  });
  if (answer.status >= 300) {
    // statusError's readText copies what it keeps of the body, whose chunks the ring reuses.
    throw await statusError({ status: answer.status, headers: {}, body: answer.body, discard: answer.discard }, what);
  }
  yield* answer.body;
}

/** A transport failure as transportError gives it; an answer cut short is the engine's going away (stopped, restarted) as well. */
function engineGetError(e: unknown, socketPath: string, path: string, signal: AbortSignal | undefined): unknown {
  if (isRolldeltaError(e) && e.code === ErrorCode.TRUNCATED && !signal?.aborted) {
    return new EngineUnreachableError(ErrorCode.TRUNCATED, `${e.message}: the Docker Engine at ${socketPath} closed the connection (stopped or restarted?)`, socketPath, e);
  }
  return transportError(e, socketPath, 'GET', path, signal);
}
