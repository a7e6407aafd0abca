export {
  DockerEngine,
  MAX_API_VERSION,
  DEFAULT_SOCKET,
  type EngineOptions,
  type ImageInspect,
  type ImageSummary,
  type RegistryAuth,
  type LoadOptions,
  type PullOptions,
  type RunOptions,
  type RunResult,
} from './engine.js';
export { JsonLineDecoder, readJsonStream, messageError, type JsonMessage } from './json-stream.js';
export { createDeltaServer, archiveDirectory, archiveFileName, engineArchives, type ArchiveCacheOptions, type DeltaServer, type DeltaServerEvent, type DeltaServerOptions, type DeltaSource } from './delta-server.js';
export { DeltaStore, type DeltaStoreOptions, type Eviction } from './delta-store.js';
export { updateImage, sameRepositoryNewest, DownloadLimiter, defaultDownloadLimiter, type BasisPolicy, type UpdateOptions, type UpdateResult } from './update-image.js';
export { FallbackPullError } from './fallback-pull-error.js';
export { EngineUnreachableError, isEngineUnreachable } from './engine-unreachable.js';
export { downloadDelta, type UpdateEvent, type DownloadOptions } from './delta-download.js';
export { RegistryClient, MANIFEST_ACCEPT, type RegistryOptions, type Descriptor, type ImageManifest } from './registry.js';
export { registryArchives, splitReference } from './registry-source.js';
export { RegistryUnavailableError, isRegistryUnavailable } from './registry-unavailable.js';
