import { crc32 as coreCrc32 } from '../core/crc32.js';
import { unpackSections } from './_frame-sections.js';
import { sealFrame } from './_frame-head.js';
import { corrupt } from './_reader.js';
import { CODEC_STORED, FRAME_HEAD, FRAME_OPS } from './native-codes.js';
import { Cursor } from './varint.js';

/**
 * The frame a context-mixed ops frame (codec 3) stands for, with its raw bytes stored (codec 0):
 * the same ops, head and CRC-32 included, ready to take its place in the delta. Unpacking is the
 * slow part of patching a level 9 delta, and frames unpack independently once `frameStart` (the
 * target offset where the frame's ops begin, which the coder's column contexts read) is known: so
 * worker threads can unpack the frames ahead of the patch (see stream/_frames-ahead.ts).
 * `body` must be a whole frame body that has passed the decoder's checks (CRC, sections, ops).
 * @example
 * const stored = storedFrameOf(body, decodedSoFar, at); // then decode `stored` instead
 */
export function storedFrameOf(body: Uint8Array, frameStart: number, at: number, crc32: (data: Uint8Array, previous: number) => number = coreCrc32): Uint8Array {
  const c = new Cursor(body, 1, body.length);
  const rawLength = c.varint();
  const frame = new Uint8Array(FRAME_HEAD + 1 + rawLength);
  const raw = frame.subarray(FRAME_HEAD + 1);
  const inflate = (): Uint8Array => {
    throw corrupt('a deflated section in a context-mixed frame', at);
  };
  unpackSections(inflate, body.subarray(c.pos), rawLength, (n) => raw.subarray(0, n), at, true, frameStart, false);
  frame[FRAME_HEAD] = CODEC_STORED;
  sealFrame(frame, FRAME_OPS, crc32);
  return frame;
}
