import * as zlib from 'node:zlib';
import { deflateRaw, deflateRawSync, inflateRawSync } from 'node:zlib';
import type { RawDeflate } from '../format/raw-deflate.js';

/** zlib's CRC-32, from Node 20.15 on (undefined before it: the core's is used then). */
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * An output buffer that holds all of deflate's output for `n` input bytes (zlib's bound for stored
 * blocks, with room to spare). node:zlib fills its output in `chunkSize` pieces, 16 KiB by default:
 * a 1 MiB frame packed in the thread pool then went back and forth to the main thread dozens of
 * times, waiting each time for the matcher to yield (256 MiB rsync delta 1.55 → 1.1 s, measured),
 * and a synchronous call joined the pieces in one more copy.
 */
const outputRoom = (n: number) => n + (n >>> 10) + 1024;

/**
 * Raw DEFLATE from node:zlib, injected wherever Node is the runtime (as node:crypto's SHA-256 is).
 * `maxOutputLength` bounds what a lying stream can make us allocate.
 * @example
 * diff(basis, target, { rawDeflate: nodeRawDeflate });
 */
export const nodeRawDeflate: RawDeflate = {
  deflate: (data, level) => deflateRawSync(data, { level, chunkSize: outputRoom(data.length) }),
  // In libuv's thread pool: a second core packs frames while the matcher runs.
  deflateAsync: (data, level) =>
    new Promise((resolve, reject) => deflateRaw(data, { level, chunkSize: outputRoom(data.length) }, (e, out) => (e ? reject(e) : resolve(out)))),
  inflate: (data, rawLength) => {
    // One output buffer of the promised size (and a byte over, to catch a stream that yields more).
    const b = inflateRawSync(data, { maxOutputLength: rawLength + 1, chunkSize: Math.max(64, rawLength + 1) });
    // A plain Uint8Array: a Buffer's slice() is a view, and sinks copy literals with slice().
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  },
  crc32: typeof zlibCrc32 === 'function' ? (data, previous) => zlibCrc32(data, previous) >>> 0 : undefined,
};
