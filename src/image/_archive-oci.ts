import { digestHex } from './digest.js';
import { type ImageLocation, type JsonEntryReader, corrupt, object, optionalSize } from './_archive-json.js';

type Descriptor = Record<string, unknown>;

/** Nested indexes followed at most this deep (an index of indexes of manifests is already rare). */
const MAX_DEPTH = 4;

/**
 * `blobs/sha256/<hex>` of a descriptor's digest.
 * @example
 * blobEntry('sha256:' + 'ab'.repeat(32), 'config'); // 'blobs/sha256/abab...'
 */
export function blobEntry(digest: unknown, what: string): string {
  return `blobs/sha256/${digestHex(digest as string, what)}`;
}

/**
 * The images an OCI image layout (`index.json`, `blobs/sha256/`) holds: each descriptor of
 * index.json is one image; a nested index (multi-platform) resolves to linux/amd64, or else the
 * first real platform. When index.json itself lists only per-platform manifests, it is one image.
 * @example
 * const locations = await ociLayoutImages((name, what) => readEntry(name).then((b) => parseJson(b, what)));
 */
export async function ociLayoutImages(readJson: JsonEntryReader): Promise<ImageLocation[]> {
  const index = object(await readJson('index.json', 'index.json'), 'index.json');
  const list = descriptors(index, 'index.json');
  const platformIndex = list.length > 1 && list.every((d) => d.platform !== undefined);
  const tops = platformIndex ? [pickPlatform(list, 'index.json')] : list;
  const out: ImageLocation[] = [];
  for (const d of tops) out.push(await resolveManifest(readJson, d, repoTagsOf(d), 0));
  return out;
}

async function resolveManifest(readJson: JsonEntryReader, d: Descriptor, repoTags: string[], depth: number): Promise<ImageLocation> {
  const entry = blobEntry(d.digest, 'a manifest digest');
  const doc = object(await readJson(entry, `manifest ${entry}`), `manifest ${entry}`);
  if (Array.isArray(doc.manifests)) {
    if (depth >= MAX_DEPTH) throw corrupt(`OCI indexes nest more than ${MAX_DEPTH} deep at ${entry}`);
    return resolveManifest(readJson, pickPlatform(descriptors(doc, entry), entry), repoTags, depth + 1);
  }
  const config = object(doc.config, `${entry} config`);
  if (!Array.isArray(doc.layers)) throw corrupt(`manifest ${entry} has no layers list`);
  const layers = doc.layers.map((l, i) => object(l, `${entry} layer ${i}`));
  return {
    configEntry: blobEntry(config.digest, `the config digest in ${entry}`),
    configSize: optionalSize(config.size, `${entry} config`),
    layerEntries: layers.map((l, i) => blobEntry(l.digest, `layer ${i} digest in ${entry}`)),
    layerSizes: layers.map((l, i) => optionalSize(l.size, `${entry} layer ${i}`)),
    repoTags,
  };
}

function descriptors(doc: Record<string, unknown>, what: string): Descriptor[] {
  if (!Array.isArray(doc.manifests) || doc.manifests.length === 0) throw corrupt(`${what} lists no manifests`);
  return doc.manifests.map((m, i) => object(m, `${what} manifest ${i}`));
}

/** linux/amd64, else the first entry that is not an attestation (platform unknown/unknown). */
function pickPlatform(list: Descriptor[], what: string): Descriptor {
  const platform = (d: Descriptor) => (d.platform ?? {}) as Record<string, unknown>;
  const amd64 = list.find((d) => platform(d).os === 'linux' && platform(d).architecture === 'amd64');
  const real = list.find((d) => platform(d).architecture !== 'unknown');
  const chosen = amd64 ?? real;
  if (!chosen) throw corrupt(`${what} lists no image manifest for a real platform`);
  return chosen;
}

/** `repo:tag` from containerd's full-name annotation, or an OCI ref.name that is a whole reference. */
function repoTagsOf(d: Descriptor): string[] {
  const ann = (d.annotations ?? {}) as Record<string, unknown>;
  const full = ann['io.containerd.image.name'];
  if (typeof full === 'string' && full !== '') return [familiarRef(full)];
  const ref = ann['org.opencontainers.image.ref.name'];
  // a bare tag ("latest") names no repository, so it is no repo:tag
  if (typeof ref === 'string' && /[:/]/.test(ref)) return [familiarRef(ref)];
  return [];
}

/**
 * The short form Docker shows: `docker.io/library/busybox:latest` is `busybox:latest`, and a
 * name without a tag gets `:latest`.
 * @example
 * familiarRef('docker.io/library/app'); // 'app:latest'
 */
export function familiarRef(ref: string): string {
  let r = ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '').replace(/^index\.docker\.io\/library\//, '');
  const last = r.slice(r.lastIndexOf('/') + 1);
  if (!last.includes(':') && !r.includes('@')) r += ':latest';
  return r;
}
