/** How a layer blob is stored; detected from its first bytes, never from media types. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** One layer of an image in an archive. */
export interface ImageLayerRef {
  /** `sha256:<hex>` of the uncompressed layer tar, from the config's `rootfs.diff_ids`. */
  diffId: string;
  /** Archive entry holding the blob, hard and symbolic links already resolved. */
  entry: string;
  /** Bytes of the entry as stored (compressed size for a gzip or zstd layer). */
  storedSize: number;
  compression: LayerCompression;
}

/** One image of an archive. */
export interface ImageRecord {
  /** `sha256:<hex>` of the config bytes: the image ID. */
  id: string;
  /** The config JSON, byte for byte. */
  config: Uint8Array;
  /** `repo:tag` names, as `docker save` recorded them (may be empty). */
  repoTags: string[];
  /** Bottom to top. */
  layers: ImageLayerRef[];
}

/**
 * Which kind of archive was read:
 * - `docker-legacy`: `docker save` before Docker 25 (`manifest.json`, `<id>/layer.tar`, `<hex>.json`);
 * - `docker-oci`: `docker save` from Docker 25 (an OCI layout plus a `manifest.json` naming `blobs/sha256/<hex>`);
 * - `oci`: an OCI image layout archive without `manifest.json` (`skopeo copy ... oci-archive:`);
 * - `skopeo-docker`: skopeo's `docker-archive:` (`manifest.json`, layers as `<hex>.tar`).
 */
export type ArchiveFormat = 'docker-legacy' | 'docker-oci' | 'oci' | 'skopeo-docker';
