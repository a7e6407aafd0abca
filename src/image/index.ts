export { ImageArchive, type ImageArchiveOptions } from './archive-reader.js';
export { ReadRing } from './read-ring.js';
export type { ArchiveFormat, ImageLayerRef, ImageRecord, LayerCompression } from './image-types.js';
export { indexTarFile, resolveTarEntry, normalizeEntryName, type TarFileEntry, type TarFileIndexOptions, type PositionalFile } from './tar-file-index.js';
export { detectCompression, gunzipChunks } from './compression.js';
export { unzstdChunks, type UnzstdOptions } from './unzstd-chunks.js';
export { dockerArchiveChunks, writeDockerArchive, type OutputImage, type DockerArchiveOptions } from './docker-archive-writer.js';
export { sha256Digest, digestHex, chainIds } from './digest.js';
export { diffImages, type ImageDiffOptions, type ImageDiffOutput, type ImageDiffSummary } from './diff-images.js';
export { applyImageDelta, type ImageApplyOptions } from './apply-image-delta.js';
export {
  readImageDeltaHeader,
  readImageDeltaHeaderFrom,
  encodeImageDeltaHeader,
  packImageConfig,
  unpackImageConfig,
  IMAGE_DELTA_MAGIC,
  type ImageDeltaHeader,
  type ImageDeltaLayer,
  type PackedImageConfig,
  type ImageDeltaHeaderOptions,
} from './image-delta-format.js';
export { layeredBasis } from './layered-basis.js';
export { BasisCache, type IndexedBasis } from './basis-cache.js';
