import type { UpdateResult } from '../docker/update-image.js';
import { FallbackPullError } from '../docker/fallback-pull-error.js';

/** An error as `--json` gives it: its code only when it has one (a RolldeltaError's, a system error's). */
interface ErrorJson {
  code?: string;
  message: string;
}

/**
 * The line `rolldelta update --json` prints on stdout when the update worked: `to`, the result's
 * fields that apply (JSON leaves the undefined ones out) and the seconds it took, as the human
 * line rounds them.
 * @example
 * updateResultJson('app:2', { action: 'delta', imageId: 'sha256:…', from: 'app:1', deltaBytes: 686182 }, 40.7);
 * // '{"to":"app:2","action":"delta","imageId":"sha256:…","from":"app:1","deltaBytes":686182,"seconds":40.7}\n'
 */
export function updateResultJson(to: string, r: UpdateResult, seconds: number): string {
  const { action, imageId, from, reason, deltaBytes } = r;
  return `${JSON.stringify({ to, action, imageId, from, reason, deltaBytes, seconds })}\n`;
}

/**
 * The line `rolldelta update --json` prints on stdout when the update failed: `to` and the error;
 * when the fallback pull failed too, both failures as well (`deltaError`, `pullError`), which a
 * fleet's agent may want to tell apart (the delta server down, or the registry too).
 * @example
 * updateErrorJson('app:2', new RolldeltaError('ERR_IO', 'cannot reach the Docker Engine'));
 * // '{"to":"app:2","error":{"code":"ERR_IO","message":"cannot reach the Docker Engine"}}\n'
 */
export function updateErrorJson(to: string, e: unknown): string {
  const both = e instanceof FallbackPullError ? { deltaError: errorJson(e.deltaError), pullError: errorJson(e.pullError) } : {};
  return `${JSON.stringify({ to, error: errorJson(e), ...both })}\n`;
}

function errorJson(e: unknown): ErrorJson {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  return typeof code === 'string' ? { code, message } : { message };
}
