import { toHex } from '../core/bytes.js';
import { ErrorCode, RolldeltaError } from '../core/errors.js';
import type { Hasher } from '../core/hash.js';
import { nodeSha256 } from '../stream/node-sha256.js';
import type { ImageLayerRef } from './image-types.js';

/**
 * Checks a layer's uncompressed bytes, as they stream by, against its DiffID (the SHA-256 the
 * image config lists for it): `update` with every chunk in order, `end` after the last. An archive
 * damaged on disk is otherwise read without complaint (a plain layer has no checksum of its own).
 * @example
 * const check = new LayerCheck('app.tar', layer);
 * for await (const c of archive.layerStream(layer)) check.update(c);
 * check.end(); // ERR_CHECKSUM when the bytes do not hash to layer.diffId
 */
export class LayerCheck {
  private readonly h: Hasher = nodeSha256();
  constructor(
    private readonly archivePath: string,
    private readonly layer: ImageLayerRef,
  ) {}

  update(chunk: Uint8Array): void {
    this.h.update(chunk);
  }

  end(): void {
    checkLayerDigest(this.archivePath, this.layer, this.h.digest());
  }
}

/** ERR_CHECKSUM unless `digest` (a layer's uncompressed bytes' SHA-256) is the layer's DiffID. */
export function checkLayerDigest(archivePath: string, layer: ImageLayerRef, digest: Uint8Array): void {
  const got = `sha256:${toHex(digest)}`;
  if (got === layer.diffId) return;
  throw new RolldeltaError(
    ErrorCode.CHECKSUM,
    `${archivePath}'s layer ${layer.diffId} (${layer.entry}) does not match its DiffID: its bytes hash to ${got}; the archive is damaged, save it again`,
  );
}
