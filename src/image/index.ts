export { ImageArchive } from './archive-reader.js';
export type { ArchiveFormat, ImageLayerRef, ImageRecord, LayerCompression } from './image-types.js';
export { indexTarFile, type TarFileEntry } from './tar-file-index.js';
export { diffImages, type ImageDiffOptions, type ImageDiffSummary } from './diff-images.js';
export { applyImageDelta, type ImageApplyOptions } from './apply-image-delta.js';
export { dockerArchiveChunks, type OutputImage } from './docker-archive-writer.js';
export { readImageDeltaHeader, encodeImageDeltaHeader, IMAGE_DELTA_MAGIC, type ImageDeltaHeader, type ImageDeltaLayer } from './image-delta-format.js';
export { layeredBasis } from './layered-basis.js';
