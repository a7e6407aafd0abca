import type { DockerEngine } from './engine.js';

/**
 * Whether the archive for `docker load` may leave out the layers the engine has: the classic store
 * loads one without them, containerd's needs them all. When `/info` does not answer (a socket
 * proxy that allows the image endpoints alone), every layer goes in, which both stores load: an
 * update that needed no `/info` before must not become a pull for it.
 * @example
 * await applyImageDelta(old, delta, load, { omitOldLayers: await mayOmitOldLayers(engine) });
 */
export async function mayOmitOldLayers(engine: DockerEngine): Promise<boolean> {
  return !(await engine.storesImagesInContainerd().catch(() => true));
}
