import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { ReadRing } from '../image/read-ring.js';
import type { DockerEngine } from './engine.js';

/**
 * Saves an update's old image into `path` by the ID the delta was checked against, not by `from`:
 * a tag moved or removed since (`docker tag`, `docker rmi -f` of an image a container still runs)
 * would save another image or none, and the delta downloaded for this one be thrown away for a
 * pull. Where saving by ID fails while `from` still names that image, it is saved by `from`: some
 * engines save an ID less well than a name (Docker's containerd image store and multi-platform
 * images, docker/cli#5523). An image gone for good is ERR_BASIS_MISMATCH saying so.
 * @example
 * await saveBasis(engine, 'app:1', basis.Id, '/var/tmp/u/old.tar', { signal, ring });
 */
export async function saveBasis(engine: DockerEngine, from: string, id: string, path: string, opts: { signal?: AbortSignal; ring: ReadRing }): Promise<void> {
  try {
    await engine.saveImagesToFile([id], path, opts);
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    if ((await engine.inspectImage(from).catch(() => undefined))?.Id === id) return void (await engine.saveImagesToFile([from], path, opts));
    // The engine's answer for an ID it lost says little (20.10: HTTP 500, "failed to get digest").
    if ((await engine.inspectImage(id).catch(() => true)) !== undefined) throw e;
    throw new RolldeltaError(ErrorCode.BASIS_MISMATCH, `${from} (${id}) was removed from the engine during the update, before its archive could be saved`, { cause: e });
  }
}
