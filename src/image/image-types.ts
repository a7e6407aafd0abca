/** How a layer blob is stored; detected from its first bytes, never from media types. */
export type LayerCompression = 'none' | 'gzip';

/** One layer of an image in an archive. */
export interface ImageLayerRef {
  /** 'sha256:<hex>' of the uncompressed layer tar, from the config's rootfs.diff_ids. */
  diffId: string;
  /** Archive member holding the blob (links resolved). */
  entry: string;
  /** Bytes of the member as stored. */
  storedSize: number;
  compression: LayerCompression;
}

/** One image of an archive. */
export interface ImageRecord {
  /** 'sha256:<hex>' of the config bytes: the image ID. */
  id: string;
  /** The config JSON, byte for byte. */
  config: Uint8Array;
  repoTags: string[];
  /** Bottom to top. */
  layers: ImageLayerRef[];
}

/** Which kind of archive was read. */
export type ArchiveFormat = 'docker' | 'oci';
