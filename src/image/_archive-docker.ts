import { type ImageLocation, type JsonEntryReader, corrupt, object, strings } from './_archive-json.js';

/**
 * The images a `manifest.json` lists (`docker save` of every version, skopeo's docker-archive):
 * `[{ Config, RepoTags, Layers }]`, entry names relative to the archive root.
 * @example
 * const [first] = await dockerManifestImages(readJson); // { configEntry: '<hex>.json', layerEntries: [...], repoTags }
 */
export async function dockerManifestImages(readJson: JsonEntryReader): Promise<ImageLocation[]> {
  const manifest = await readJson('manifest.json', 'manifest.json');
  if (!Array.isArray(manifest)) throw corrupt('manifest.json is not a list of images');
  return manifest.map((item, i) => {
    const m = object(item, `manifest.json item ${i}`);
    if (typeof m.Config !== 'string' || m.Config === '') throw corrupt(`manifest.json item ${i} has no Config entry name`);
    return {
      configEntry: m.Config,
      layerEntries: strings(m.Layers, `manifest.json item ${i} Layers`),
      repoTags: strings(m.RepoTags, `manifest.json item ${i} RepoTags`, true),
    };
  });
}
