import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RawDeflate } from '../format/raw-deflate.js';

/**
 * Raw DEFLATE from node:zlib, injected wherever Node is the runtime (as node:crypto's SHA-256 is).
 * `maxOutputLength` bounds what a lying stream can make us allocate.
 * @example
 * diff(basis, target, { rawDeflate: nodeRawDeflate });
 */
export const nodeRawDeflate: RawDeflate = {
  deflate: (data, level) => deflateRawSync(data, { level }),
  // In libuv's thread pool: a second core packs frames while the matcher runs.
  deflateAsync: (data, level) => new Promise((resolve, reject) => deflateRaw(data, { level }, (e, out) => (e ? reject(e) : resolve(out)))),
  inflate: (data, rawLength) => {
    const b = inflateRawSync(data, { maxOutputLength: rawLength + 1 });
    // A plain Uint8Array: a Buffer's slice() is a view, and sinks copy literals with slice().
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  },
};
