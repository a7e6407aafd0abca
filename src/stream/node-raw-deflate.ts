import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RawDeflate } from '../format/raw-deflate.js';

/**
 * Raw DEFLATE from node:zlib, injected wherever Node is the runtime (as node:crypto's SHA-256 is).
 * `maxOutputLength` bounds what a lying stream can make us allocate.
 * @example
 * diff(basis, target, { rawDeflate: nodeRawDeflate });
 */
export const nodeRawDeflate: RawDeflate = {
  deflate: (data, level) => deflateRawSync(data, { level }),
  inflate: (data, rawLength) => inflateRawSync(data, { maxOutputLength: rawLength + 1 }),
};
