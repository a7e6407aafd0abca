import { writeU32 } from './_reader.js';
import { FRAME_HEAD } from './native-codes.js';

/**
 * Writes the head of a native frame whose body already fills `frame` after FRAME_HEAD bytes: its
 * type, the body's length and the body's CRC-32 (the layout in native-delta-encoder.ts).
 * @example
 * const frame = new Uint8Array(FRAME_HEAD + body.length); frame.set(body, FRAME_HEAD); sealFrame(frame, FRAME_OPS, crc32);
 */
export function sealFrame(frame: Uint8Array, type: number, crc32: (data: Uint8Array, previous: number) => number): void {
  frame[0] = type;
  writeU32(frame, 1, frame.length - FRAME_HEAD);
  writeU32(frame, 5, crc32(frame.subarray(FRAME_HEAD), 0));
}
